"""Walk the novice pages' path through the real service in Chromium, and note what a reader sees.

One walk, as the novice account: the login page, the spawn form, a server on the interactive
partition (with the wait page while Slurm starts the job), JupyterLab's Launcher, the File
menu's way to the Hub Control Panel, and the control panel, whose stop button ends the
server; where the site offers users' own start-up scripts, last a server started from one
(built as the recipe "Your own JupyterLab" builds it), with the extensions JupyterLab loads
there. In each view it records the accessible names a reader relies on (Chromium's own
accessibility tree, through Playwright's ARIA snapshots) and, when asked, takes its picture:
fixed viewport, no motion, no news or update prompts, and the user's name replaced, what
varies from run to run (times, the event log) painted over.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from hpc_handbook.data.ui_snapshot import Picture, UiView
from hpc_handbook.doc_ci.ui.page_scripts import REGION_JS, REPLACE_JS, VERSIONS_JS
from hpc_handbook.profile import OWN_ENVIRONMENT

#: How long, and how often at most, to wait for a region to keep the same box after a resize.
REGION_SETTLE_MS = 200
REGION_SETTLE_TRIES = 15

VIEWPORT = {"width": 1280, "height": 800}
#: No transitions, animations or blinking caret: two runs over the same UI give the same picture.
STILL_CSS = (
    "*, *::before, *::after { transition: none !important; animation: none !important; "
    "caret-color: transparent !important; scroll-behavior: auto !important; }"
    # JupyterLab's toasts (news, updates) are not part of what the pages describe.
    " .Toastify { display: none !important; }"
)
MASK_COLOR = "#c8c8c8"
SPAWN_TIMEOUT_MS = 240_000
PAGE_TIMEOUT_MS = 60_000
#: JupyterLab's news and update checks: off, as if the user had answered "No" (nothing is written).
NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"
NOTIFICATION_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}
# One entry: `- role "name" [attributes]: text`, in single quotes when YAML needs them (a `#`).
_ARIA_LINE = re.compile(
    r'^(?P<indent>\s*)- (?P<quote>\'?)(?P<role>[a-z]+)(?: "(?P<name>(?:[^"\\]|\\.)*)")?(?P<rest>.*)$'
)


class WalkError(RuntimeError):
    """A view did not appear as the walk expected; the message names the view and what was missing."""


def views_config() -> dict[str, Any]:
    """The views, their pages, pictures, masks and the report's wording (`ui_views.yml`)."""
    text = files("hpc_handbook.doc_ci.ui").joinpath("ui_views.yml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


@dataclass(frozen=True)
class AriaNode:
    depth: int
    role: str
    name: str
    text: str


def aria_nodes(snapshot: str) -> list[AriaNode]:
    """The entries of a Playwright ARIA snapshot: role, accessible name and inline text."""
    nodes = []
    for line in snapshot.splitlines():
        match = _ARIA_LINE.match(line)
        if match is None:
            continue
        name = (match["name"] or "").replace('\\"', '"')
        if match["quote"]:
            name = name.replace("''", "'")
        text = match["rest"].split(":", 1)[1].strip() if ":" in match["rest"] else ""
        nodes.append(AriaNode(len(match["indent"]) // 2, match["role"], name, text))
    return nodes


def names(snapshot: str, *roles: str) -> list[str]:
    return [node.name for node in aria_nodes(snapshot) if node.role in roles and node.name]


@dataclass
class Walk:
    """One walk through the service; `shots` is the picture folder, None to look only."""

    page: Any
    url: str
    user: str
    password: str
    partition: str
    shots: Path | None = None
    config: dict[str, Any] = field(default_factory=views_config)
    facts: dict[str, UiView] = field(default_factory=dict)
    pictures: dict[str, Picture] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    #: The view the walk is in, for an error's message.
    current: str = "login"
    #: The extension of the account's own environment (built beforehand), when the walk also starts
    #: a server from the account's start-up script; None to leave that view out.
    own_extension: str | None = None

    def hub(self, path: str) -> str:
        return f"{self.url}/hub/{path}"

    def _private(self) -> list[list[str]]:
        return [[self.user, self.config["placeholder_user"]]]

    def sanitize(self, page: Any) -> None:
        """Replace the user's name in the page's text and attributes, before a picture or a record."""
        page.evaluate(REPLACE_JS, self._private())

    def record(self, view: str, **groups: list[str]) -> None:
        self.facts[view] = UiView(elements=groups)

    def shoot(self, view: str, page: Any) -> None:
        """The view's region at `region_scale`, and the whole window beside it (`NAME-full.png`)."""
        if self.shots is None:
            return
        setup = self.config["views"][view]
        self.sanitize(page)
        name = setup["screenshot"]
        full_view = f"{Path(name).stem}-full.png"
        masks = [page.locator(selector) for selector in setup.get("masks", [])]
        options = {"mask": masks, "mask_color": MASK_COLOR, "animations": "disabled", "caret": "hide"}
        page.screenshot(
            path=str(self.shots / full_view), full_page=bool(setup.get("full_page")), scale="css", **options
        )
        region = setup["region"]
        narrower = region.get("viewport_width")
        if narrower:
            page.set_viewport_size({**VIEWPORT, "width": narrower})
        try:
            box = _settled_region(page, region["selectors"], self.config["region_padding"])
            if box is None:
                raise WalkError(f"{setup['title']}: {self.config['messages']['no_region']}")
            page.screenshot(path=str(self.shots / name), full_page=True, clip=box, scale="device", **options)
        finally:
            if narrower:
                page.set_viewport_size(VIEWPORT)
        self.pictures[view] = Picture(
            file=name,
            full_view=full_view,
            scale=self.config["region_scale"],
            width=box["width"],
            height=box["height"],
        )


def _settled_region(page: Any, selectors: list[str], padding: int) -> Any:
    """The region's box once the page has laid itself out again: after the window is resized,
    JupyterLab re-wraps its Launcher a moment later, and a box measured before that is cut."""
    box = page.evaluate(REGION_JS, {"selectors": selectors, "padding": padding})
    for _ in range(REGION_SETTLE_TRIES):
        page.wait_for_timeout(REGION_SETTLE_MS)
        again = page.evaluate(REGION_JS, {"selectors": selectors, "padding": padding})
        if again == box:
            return box
        box = again
    return box


def prepare_context(browser: Any) -> Any:
    """A browser context that shows the UI still and quiet: fixed size, no motion, no prompts."""
    context = browser.new_context(
        viewport=VIEWPORT,
        # The regions' pictures are taken at this scale; the full views at one pixel per CSS pixel.
        device_scale_factor=views_config()["region_scale"],
        reduced_motion="reduce",
        color_scheme="light",
        locale="en-US",
        timezone_id="UTC",
    )
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.add_init_script(
        "document.addEventListener('DOMContentLoaded', () => {"
        f" const style = document.createElement('style'); style.textContent = {json.dumps(STILL_CSS)};"
        " document.head.appendChild(style); });"
    )
    context.route("**/lab/api/settings**", _quiet_settings)
    return context


def _quiet_settings(route: Any) -> None:
    """JupyterLab's settings as the server sends them, with news and update checks turned off."""
    response = route.fetch()
    try:
        data = response.json()
    except ValueError:
        route.fulfill(response=response)
        return
    entries = data.get("settings") if isinstance(data.get("settings"), list) else [data]
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id") == NOTIFICATION_PLUGIN:
            entry["raw"] = json.dumps(NOTIFICATION_SETTINGS)
            entry["settings"] = {**(entry.get("settings") or {}), **NOTIFICATION_SETTINGS}
    route.fulfill(response=response, json=data)


def login_view(walk: Walk) -> None:
    page = walk.page
    page.goto(walk.hub("login"))
    form = page.locator("form").first
    form.wait_for()
    snapshot = form.aria_snapshot()
    walk.record("login", fields=names(snapshot, "textbox"), buttons=names(snapshot, "button"))
    walk.shoot("login", page)
    page.locator("input[name=username]").fill(walk.user)
    page.locator("input[name=password]").fill(walk.password)
    with page.expect_navigation():
        page.locator("form [type=submit]").first.click()
    if "/hub/login" in page.url:
        raise WalkError(f"{walk.hub('login')}: the hub refused the novice account's password")


def spawn_form_view(walk: Walk) -> None:
    page = walk.page
    page.goto(walk.hub(f"spawn/{quote(walk.user)}"))
    page.locator("select[name=place]").wait_for()
    walk.sanitize(page)
    snapshot = page.locator("form#spawn_form, form").first.aria_snapshot()
    walk.record(
        "spawn-form",
        fields=names(snapshot, "combobox", "textbox", "spinbutton", "listbox"),
        places=names(page.locator("select[name=place]").aria_snapshot(), "option"),
        buttons=names(snapshot, "button"),
    )
    walk.shoot("spawn-form", page)


def start_on_partition(walk: Walk) -> None:
    """Submit the form for the interactive partition; picture the wait page while Slurm starts it."""
    page = walk.page
    page.locator("select[name=place]").select_option(walk.partition)
    page.locator("form [type=submit]").first.click(no_wait_after=True)
    # The hub keeps the form's request open for a few seconds before it sends the browser to the
    # wait page; a second tab opens that page at once, while the job is still starting.
    waiting = page.context.new_page()
    try:
        seen = _wait_page(walk, waiting)
    finally:
        waiting.close()
    if not seen and walk.shots is not None:
        raise WalkError(
            f"{walk.config['views']['wait-page']['title']}: {walk.config['messages']['no_wait_page']}"
        )
    page.wait_for_url(re.compile(rf"/user/{re.escape(quote(walk.user))}/lab"), timeout=SPAWN_TIMEOUT_MS)


def _wait_page(walk: Walk, waiting: Any) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting.goto(walk.hub(f"spawn-pending/{quote(walk.user)}"))
        if "/spawn-pending/" in waiting.url and waiting.locator("#progress-bar").count():
            waiting.locator("#progress-message").wait_for()
            walk.shoot("wait-page", waiting)
            return True
        if "/user/" in waiting.url:
            return False  # already running: the hub sent this tab to the server
        time.sleep(0.3)
    return False


def launcher_view(walk: Walk) -> None:
    page = walk.page
    page.locator(".jp-LauncherCard").first.wait_for(timeout=SPAWN_TIMEOUT_MS)
    # Kernel tiles appear as the server lists its kernelspecs; wait until their number settles.
    count, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 1.5:
        now = page.locator(".jp-LauncherCard").count()
        if now != count:
            count, stable_since = now, time.monotonic()
        time.sleep(0.25)
    walk.sanitize(page)
    walk.record(
        "launcher",
        **{
            "kernel-tiles": launcher_tiles(
                page.locator(".jp-Launcher").first.aria_snapshot(), walk.config["kernel_sections"]
            )
        },
    )
    walk.versions.update(page.evaluate(VERSIONS_JS))
    walk.shoot("launcher", page)


def launcher_tiles(snapshot: str, sections: list[str]) -> list[str]:
    """'Section: label' of each tile under the kernel sections' headings, by the tile's visible label."""
    tiles: list[str] = []
    section, tile_depth = "", -1
    for node in aria_nodes(snapshot):
        if node.role == "heading" and node.name:
            section, tile_depth = node.name, -1
        elif node.role == "button" and section in sections:
            tiles.append(f"{section}: {node.name}")
            tile_depth = node.depth
        elif node.role == "paragraph" and node.depth > tile_depth >= 0 and node.text and tiles:
            # The visible label, without the letter a kernel without a logo shows as its icon.
            tiles[-1] = f"{section}: {node.text}"
            tile_depth = -1
    return tiles


def menu_path_view(walk: Walk) -> Any:
    """Find the Hub Control Panel's menu item; open it as a reader would. Returns the control panel's tab."""
    page = walk.page
    menu, item = walk.config["hub_control_panel"]
    top_level = names(page.locator(".lm-MenuBar").first.aria_snapshot(), "menuitem")
    found: list[str] = []
    for title in [menu, *(t for t in top_level if t != menu)]:
        page.get_by_role("menuitem", name=title, exact=True).first.click()
        entries = page.locator(".lm-Menu").first
        entries.wait_for()
        if any(n == item or n.startswith(f"{item} ") for n in names(entries.aria_snapshot(), "menuitem")):
            found = [title, item]
            # The picture shows the item as the reader's pointer finds it.
            _menu_item(page, item).hover()
            walk.shoot("file-menu", page)
            break
        page.keyboard.press("Escape")
    walk.record("file-menu", **{"hub-control-panel": found})
    if not found:
        return None
    with page.context.expect_page() as opened:
        _menu_item(page, item).click()
    return opened.value


def _menu_item(page: Any, item: str) -> Any:
    return page.get_by_role("menuitem", name=re.compile(rf"^{re.escape(item)}")).first


def control_panel_view(walk: Walk, panel: Any) -> None:
    if panel is None:
        panel = walk.page.context.new_page()
        panel.goto(walk.hub("home"))
    panel.wait_for_load_state()
    stop = panel.locator("#stop")
    stop.wait_for()
    walk.sanitize(panel)
    buttons = [name for selector in ("#stop", "#start") for name in _names_of(panel.locator(selector))]
    walk.record("control-panel", buttons=buttons)
    walk.shoot("control-panel", panel)
    stop.click()
    # The reader's click: the hub stops the server, and so ends its Slurm job, then hides the button.
    stop.wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)


def _names_of(locator: Any) -> list[str]:
    return names(locator.aria_snapshot(), "button", "link") if locator.count() else []


def own_environment_view(walk: Walk) -> None:
    """Start a server from the account's own script on the form's default place; note its extensions."""
    page = walk.page
    page.goto(walk.hub(f"spawn/{quote(walk.user)}"))
    page.locator("select[name=environment]").select_option(OWN_ENVIRONMENT)
    page.locator("form [type=submit]").first.click()
    page.wait_for_url(re.compile(rf"/user/{re.escape(quote(walk.user))}/lab"), timeout=SPAWN_TIMEOUT_MS)
    page.locator(".jp-LauncherCard").first.wait_for(timeout=SPAWN_TIMEOUT_MS)
    config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
    loaded = sorted(extension["name"] for extension in config.get("federated_extensions", []))
    if walk.own_extension not in loaded:
        # Never record a server without it: the check would then expect its absence.
        raise WalkError(
            f"the own environment's {walk.own_extension} is not among JupyterLab's extensions {loaded}"
        )
    walk.record("own-environment", extensions=loaded)


def walk_the_service(walk: Walk) -> None:
    """Every view in the novice pages' order; the server is stopped by the control panel's button."""
    for view, step in (
        ("login", login_view),
        ("spawn-form", spawn_form_view),
        ("wait-page", start_on_partition),
        ("launcher", launcher_view),
    ):
        walk.current = view
        step(walk)
    walk.current = "file-menu"
    panel = menu_path_view(walk)
    walk.current = "control-panel"
    control_panel_view(walk, panel)
    if walk.own_extension is not None:
        walk.current = "own-environment"
        own_environment_view(walk)
