"""What a user does in the browser over an emulated link, timed: the network bench's half in Chromium.

Playwright runs here and drives the machine's Chromium over a pipe; Chromium itself runs
inside the link's network namespace (`ip netns exec`), so every request it makes crosses the
emulated link. The steps are a user's: log in, start a server on the login node, wait for
JupyterLab, run a cell; and, for the cut, a cell that runs while the link is down, with typing
meanwhile, then saving the notebook.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat

from hpc_handbook.browser import CHROMIUM, CHROMIUM_ARGS, BrowserUnavailable, first_line

#: Long enough for JupyterLab's first load over the poor link (megabytes of scripts at 2 Mbit/s).
STEP_TIMEOUT_MS = 420_000
#: How long a cell may take to answer on a link that works (the cut's link, before and after it).
CELL_TIMEOUT_MS = 120_000
#: How long typed text may take to show in the cell's editor.
TYPED_SHOWN_MS = 5_000
#: How often text is typed again when the editor does not show it (a keystroke sent while
#: JupyterLab still lays the notebook out can land nowhere).
TYPING_TRIES = 3
NOTEBOOK = "network-check.ipynb"
FILE_LISTING = ".jp-DirListing-content"
KERNEL_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
CELLS = ".jp-Notebook .jp-Cell"
ACTIVE_EDITOR = ".jp-Notebook .jp-Cell.jp-mod-active .cm-content"
#: The active cell's place among CELLS (given as the argument).
ACTIVE_INDEX_JS = """(cells) => [...document.querySelectorAll(cells)]
  .findIndex((cell) => cell.classList.contains("jp-mod-active"))"""
#: A run JupyterLab has taken: the cell's prompt shows [*] (running or queued) or its number.
RUN_TAKEN = re.compile(r"\[(\*|\d+)\]")
#: How long a run may take to show in the cell's prompt, and how often a cell is run before
#: giving up (see `run_active_cell` for the runs JupyterLab drops).
RUN_TAKEN_MS = 10_000
RUN_TRIES = 3
#: The notebook takes keystrokes as text only in edit mode; in command mode they are commands
#: ("1" makes the cell a heading, "x" cuts it).
EDIT_MODE = ".jp-Notebook.jp-mod-editMode"
#: What a failure reports of the notebook: each cell's prompt, first line and output, the kernel
#: and the mode (given CELLS and EDIT_MODE).
NOTEBOOK_STATE_JS = """([cells, editMode]) => {
  const cut = (text, n) => {
    text = (text || "").trim().split("\\n")[0];
    return text.length > n ? text.slice(0, n) + "..." : text;
  };
  const shown = [...document.querySelectorAll(cells)].map((cell) => {
    const kind = cell.classList.contains("jp-CodeCell") ? "" : "(not code) ";
    const prompt = kind + (cut(cell.querySelector(".jp-InputPrompt")?.textContent, 8) || "[ ]:");
    const source = cut(cell.querySelector(".cm-content")?.innerText, 30) || "(empty)";
    const output = cut(cell.querySelector(".jp-OutputArea")?.innerText, 30);
    return `${prompt} ${source}` + (output ? ` -> ${output}` : "");
  });
  const kernel = document.querySelector(".jp-Notebook-ExecutionIndicator")?.getAttribute("data-status");
  const mode = document.querySelector(editMode) ? "edit" : "command";
  return `kernel ${kernel || "unknown"}, ${mode} mode; cells: ${shown.join(" | ") || "none"}`;
}"""

#: The cut's cells: a variable, a cell that runs through the cut, what the user types during it,
#: and the check that the kernel kept its state.
FIRST_CELL = "survivor = 41\nprint('set')"
FIRST_OUTPUT = "set"
#: It says when it has started: the cut begins while the kernel runs it, not while its request is
#: still on its way to the server.
RUNNING_CELL = "\n".join(
    (
        "import time",
        "print('running', flush=True)",
        "time.sleep(20)",
        "survivor += 1",
        "print('after the cut', survivor)",
    )
)
RUNNING_STARTED = "running"
RUNNING_OUTPUT = "after the cut 42"
TYPED_DURING_THE_CUT = "typed_during_the_cut = 'kept'"
CHECK_CELL = "print(survivor, typed_during_the_cut)"
CHECK_OUTPUT = "42 kept"


@dataclass
class SessionTimes:
    """One user's way in, each step timed in seconds (None: the step was not reached)."""

    login_s: float | None = None
    spawn_s: float | None = None
    lab_ready_s: float | None = None
    lab_again_s: float | None = None
    cell_round_trip_s: float | None = None
    #: Runs JupyterLab dropped as the notebook opened, run again (see `run_active_cell`).
    runs_dropped: int = 0


@dataclass
class CutOutcome:
    reconnect_s: float | None = None
    cells: int = 0
    cells_lost: int = 0
    edits: int = 0
    edits_lost: int = 0
    kernel_intact: bool = False
    saved: bool = False
    #: Runs JupyterLab dropped as the notebook opened, run again (see `run_active_cell`).
    runs_dropped: int = 0
    #: What JupyterLab's dialogs said during and after the cut (a user sees them).
    dialogs: list[str] = field(default_factory=list)


@contextlib.contextmanager
def browser_in(namespace: str, host_address: str) -> Iterator[Any]:
    """A page of a headless Chromium that runs inside `namespace`, closed afterwards.

    It resolves no host name and reaches only the link's host end (`host_address`)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserUnavailable("Playwright for Python is not installed") from None
    if not os.access(CHROMIUM, os.X_OK):
        raise BrowserUnavailable(f"no Chromium at {CHROMIUM}")
    with tempfile.TemporaryDirectory(prefix="handbook-net-") as folder:
        wrapper = Path(folder) / "chromium-in-namespace"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {namespace} {CHROMIUM} "$@"\n', encoding="utf-8")
        wrapper.chmod(0o700)
        with sync_playwright() as manager:
            args = [arg for arg in CHROMIUM_ARGS if not arg.startswith("--host-resolver-rules=")]
            args.append(f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {host_address}")
            browser = manager.chromium.launch(executable_path=str(wrapper), args=args)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
                context.set_default_timeout(STEP_TIMEOUT_MS)
                yield context.new_page()
            finally:
                browser.close()


class StepFailed(RuntimeError):
    """A step of the user's way in did not end; the message names it and says why."""


def _timed(name: str, step: Callable[[], object], page: Any = None) -> float:
    """Run `step`; StepFailed names it, says why and, given the `page`, what its notebook showed."""
    started = time.monotonic()
    try:
        step()
    except StepFailed:
        raise
    except Exception as error:  # Playwright's own errors: a timeout, a page that failed
        shown = f" ({notebook_state(page)})" if page is not None else ""
        raise StepFailed(
            f"{name}, after {time.monotonic() - started:.0f} s: {first_line(error)}{shown}"
        ) from error
    return round(time.monotonic() - started, 2)


def notebook_state(page: Any) -> str:
    """What the open notebook shows, for a failure's message; what went wrong if that cannot be read."""
    try:
        return str(page.evaluate(NOTEBOOK_STATE_JS, [CELLS, EDIT_MODE]))
    except Exception as error:  # the page itself may be what failed
        return f"notebook not readable: {first_line(error)}"


def server_url(url: str, user: str, server: str) -> str:
    return f"{url}/user/{quote(user)}/{quote(server)}/"


def put_notebook(user: str, kernel: str) -> Path:
    """An empty notebook for `kernel` in the user's home, theirs; replaced if there."""
    entry = pwd.getpwnam(user)
    path = Path(entry.pw_dir) / NOTEBOOK
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("")],
        metadata={"kernelspec": {"name": kernel, "display_name": kernel, "language": "python"}},
    )
    path.write_text(nbformat.writes(notebook), encoding="utf-8")
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def log_in_and_start(page: Any, url: str, user: str, password: str, server: str, times: SessionTimes) -> None:
    """The login page, then the spawn form's defaults (the login node), until JupyterLab lists the files."""

    def log_in() -> None:
        page.goto(f"{url}/hub/login")
        page.locator("input[name=username]").fill(user)
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.locator("form [type=submit]").first.click()
        if "/hub/login" in page.url:
            raise RuntimeError("the hub refused the account's password")

    def spawn() -> None:
        page.goto(f"{url}/hub/spawn/{quote(user)}/{quote(server)}")
        page.locator("select[name=place]").wait_for()
        page.locator("form [type=submit]").first.click()
        page.wait_for_url(re.compile(rf"/user/{re.escape(quote(user))}/{re.escape(quote(server))}/lab"))

    times.login_s = _timed("log in", log_in)
    times.spawn_s = _timed("start a server", spawn)
    times.lab_ready_s = _timed("JupyterLab ready", lambda: page.locator(FILE_LISTING).wait_for())


def open_notebook(page: Any) -> None:
    """Open the notebook as a user does, from the file browser; wait until its kernel is idle."""
    page.locator(".jp-DirListing-item", has_text=NOTEBOOK).first.dblclick()
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    page.locator(KERNEL_IDLE).first.wait_for()


def type_into_active_cell(page: Any, code: str) -> None:
    """Type `code` into the notebook's active cell as a user does, replacing what it holds, and
    check that the editor shows it; typed again if not (StepFailed after TYPING_TRIES).

    Nothing is typed until the notebook is in edit mode: a click that JupyterLab, still opening
    the notebook, turns back to command mode would make the keystrokes commands."""
    editor = page.locator(ACTIVE_EDITOR)
    last_line = code.splitlines()[-1]
    for _ in range(TYPING_TRIES):
        editor.click()
        try:
            page.locator(EDIT_MODE).wait_for(timeout=TYPED_SHOWN_MS)
        except Exception:  # Playwright's timeout: still in command mode, click again
            continue
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type(code)
        try:
            editor.filter(has_text=last_line).wait_for(timeout=TYPED_SHOWN_MS)
            return
        except Exception:  # Playwright's timeout: the keystrokes went elsewhere
            continue
    raise StepFailed(f"typing {last_line!r}: the cell did not show it ({notebook_state(page)})")


def run_active_cell(page: Any) -> int:
    """Run the active cell with Shift+Enter, as a user does, until JupyterLab has taken the run;
    how many runs it dropped before.

    In the moments after a notebook opens on a busy machine JupyterLab can drop a run without a
    word: the prompt stays [ ] and nothing reaches the kernel (its run command skips a cell while
    the notebook's session has no kernel to send it to). A user runs the cell again, and so does
    this; a run it has taken shows [*] at once, so no cell runs twice. Shift+Enter moves on to
    the cell below, made anew after the last one."""
    cell = page.locator(CELLS).nth(page.evaluate(ACTIVE_INDEX_JS, CELLS))
    for dropped in range(RUN_TRIES):
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        try:
            cell.locator(".jp-InputPrompt", has_text=RUN_TAKEN).wait_for(timeout=RUN_TAKEN_MS)
            return dropped
        except Exception:  # Playwright's timeout: the run was dropped
            continue
    raise StepFailed(f"running a cell: JupyterLab did not take the run ({notebook_state(page)})")


def _run_typed(page: Any, code: str) -> int:
    """Type into the active cell and run it (Shift+Enter moves on to a new cell below); the runs
    JupyterLab dropped."""
    type_into_active_cell(page, code)
    return run_active_cell(page)


def _output(page: Any, text: str) -> Any:
    return page.locator(".jp-OutputArea-output", has_text=text).first


def user_session(page: Any, url: str, user: str, password: str, server: str, times: SessionTimes) -> None:
    """Log in, start a server, JupyterLab ready, a cell's round trip, JupyterLab again from the
    browser's cache; each step's time in `times` as it ends (StepFailed names the one that did not)."""
    log_in_and_start(page, url, user, password, server, times)
    _timed("open the notebook", lambda: open_notebook(page), page)
    type_into_active_cell(page, "print(6 * 7)")

    def cell() -> None:
        times.runs_dropped += run_active_cell(page)
        _output(page, "42").wait_for()

    times.cell_round_trip_s = _timed("a cell's round trip", cell, page)

    def again() -> None:
        page.reload()
        page.locator(FILE_LISTING).wait_for()

    times.lab_again_s = _timed("JupyterLab again", again)


def _dismiss_dialogs(page: Any, seen: list[str]) -> None:
    """Note and dismiss what JupyterLab's dialogs say, as a user would."""
    while page.locator(".jp-Dialog").count():
        dialog = page.locator(".jp-Dialog").first
        text = " ".join(dialog.inner_text().split())
        if text not in seen:
            seen.append(text)
        buttons = dialog.locator(".jp-Dialog-button")
        if buttons.count():
            buttons.last.click()
        else:
            page.keyboard.press("Escape")
        time.sleep(0.5)


def cell_through_a_cut(
    page: Any,
    cut: Callable[[], None],
    restore: Callable[[], None],
    *,
    cut_s: float,
    path: Path,
) -> CutOutcome:
    """A cell runs while the link is cut for `cut_s`; the user types meanwhile, then runs and saves."""
    outcome = CutOutcome(cells=2, edits=1)
    _timed("open the notebook", lambda: open_notebook(page), page)
    outcome.runs_dropped += _run_typed(page, FIRST_CELL)
    _timed(
        "the first cell's output", lambda: _output(page, FIRST_OUTPUT).wait_for(timeout=CELL_TIMEOUT_MS), page
    )
    outcome.runs_dropped += _run_typed(page, RUNNING_CELL)
    # The cell runs once its first words are back: the cut starts then.
    _timed(
        "the running cell's first words",
        lambda: _output(page, RUNNING_STARTED).wait_for(timeout=CELL_TIMEOUT_MS),
        page,
    )
    cut()
    cut_at = time.monotonic()
    try:
        # Typed in the browser alone, while nothing gets through.
        type_into_active_cell(page, TYPED_DURING_THE_CUT)
        time.sleep(max(0.0, cut_s - (time.monotonic() - cut_at)))
    finally:
        restore()
    restored = time.monotonic()
    deadline = restored + STEP_TIMEOUT_MS / 1000
    while time.monotonic() < deadline and not _output(page, RUNNING_OUTPUT).count():
        _dismiss_dialogs(page, outcome.dialogs)
        time.sleep(0.5)
    if _output(page, RUNNING_OUTPUT).count():
        outcome.reconnect_s = round(time.monotonic() - restored, 2)
    else:
        outcome.dialogs.append(
            f"(no output {STEP_TIMEOUT_MS / 1000:.0f} s after the link was back; {notebook_state(page)})"
        )
    _dismiss_dialogs(page, outcome.dialogs)
    # Back in the cell typed during the cut: run it, then check the kernel's state.
    page.locator(".jp-Cell .cm-content", has_text=TYPED_DURING_THE_CUT).first.click()
    outcome.runs_dropped += run_active_cell(page)
    outcome.runs_dropped += _run_typed(page, CHECK_CELL)
    with contextlib.suppress(Exception):
        _output(page, CHECK_OUTPUT).wait_for(timeout=CELL_TIMEOUT_MS)
    outcome.kernel_intact = bool(_output(page, CHECK_OUTPUT).count())
    page.keyboard.press("ControlOrMeta+s")
    with contextlib.suppress(Exception):
        page.locator(".jp-mod-dirty").first.wait_for(state="detached", timeout=CELL_TIMEOUT_MS)
    _dismiss_dialogs(page, outcome.dialogs)
    saved = _saved_cells(path)
    outcome.saved = bool(saved)
    outputs = "\n".join(text for _, text in saved)
    outcome.cells_lost = sum(1 for expected in (RUNNING_OUTPUT, CHECK_OUTPUT) if expected not in outputs)
    outcome.edits_lost = 0 if any(TYPED_DURING_THE_CUT in source for source, _ in saved) else 1
    return outcome


def _saved_cells(path: Path) -> list[tuple[str, str]]:
    """(source, output text) of each code cell of the notebook as saved on disk; [] if unreadable."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    cells = []
    for cell in notebook.get("cells", []):
        source = "".join(cell.get("source", ""))
        outputs = "".join("".join(output.get("text", "")) for output in cell.get("outputs", []))
        cells.append((source, outputs))
    return cells
