"""The probe's view of the hub: its version, its spawner, and the spawn form users are shown.

It asks as the doc CI's account (the profile's `hub:` section), through the hub's REST API and
the same spawn page a browser gets, so a renamed partition or an upgraded hub shows up here
exactly as users meet it.
"""

from __future__ import annotations

from html.parser import HTMLParser

from hpc_handbook.data.snapshot import FormPlace, HubService, Jupyter
from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.probe.users_server import probe_users_server
from hpc_handbook.profile import OWN_ENVIRONMENT, HubAccess

#: The form field whose options are the places a server can run.
PLACE_FIELD = "place"
#: The form field whose options are the JupyterLab environments a server can start in.
ENVIRONMENT_FIELD = "environment"
#: The named server the probe starts on the login node to see the kernels users see.
PROBE_SERVER = "doc-ci-probe"


class SpawnFormParser(HTMLParser):
    """Collect the form's field labels and the options of its place and environment selectors."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[str] = []
        self.choices: dict[str, dict[str, str]] = {PLACE_FIELD: {}, ENVIRONMENT_FIELD: {}}
        self._in_label = False
        self._select: str | None = None
        self._option: str | None = None
        self._text: list[str] = []

    @property
    def places(self) -> dict[str, str]:
        return self.choices[PLACE_FIELD]

    @property
    def environments(self) -> dict[str, str]:
        return self.choices[ENVIRONMENT_FIELD]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "label":
            self._in_label, self._text = True, []
        elif tag == "select" and attributes.get("name") in self.choices:
            self._select = attributes.get("name")
        elif tag == "option" and self._select is not None:
            self._option, self._text = attributes.get("value") or "", []

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._in_label:
            self.labels.append(" ".join("".join(self._text).split()))
            self._in_label = False
        elif tag == "option" and self._option is not None and self._select is not None:
            self.choices[self._select][self._option] = " ".join("".join(self._text).split())
            self._option = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._in_label or self._option is not None:
            self._text.append(data)


def parse_spawn_form(page: str) -> SpawnFormParser:
    """The field labels, the place and the environment choices of a spawn page's form."""
    parser = SpawnFormParser()
    parser.feed(page)
    return parser


def read_spawn_form(access: HubAccess) -> SpawnFormParser:
    """The form's field labels and places, as the hub shows them to the account after logging in.

    The hub shows its spawn form only to a logged-in browser, never to an API token, so this
    logs in through the login form with the account's password; HubError says why it could not.
    """
    if access.password_file is None:
        raise HubError("hub.password_file is not set, and the hub shows its spawn form only after a log-in")
    try:
        password = access.password_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise HubError(f"cannot read {access.password_file} ({error.strerror})") from None
    with HubClient.login(str(access.url), access.doc_ci_user, password) as browser:
        return parse_spawn_form(browser.page("/hub/spawn"))


def token_scopes(client: HubClient, account: str) -> list[str]:
    """What the doc CI's token may do, with its own account written as JupyterHub's `!user` filter."""
    scopes = client.api("GET", "/user").get("scopes") or []
    return sorted({str(scope).replace(f"!user={account}", "!user") for scope in scopes})


def probe_hub(access: HubAccess) -> tuple[HubService, Jupyter | None]:
    """Ask the hub as the doc CI's account; a hub that does not answer is recorded with the reason.

    Also returns the users' Jupyter environment, read from the server the probe starts there;
    None when no server could be started.
    """
    url = str(access.url).rstrip("/")
    try:
        token = access.token_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        reason = f"cannot read the hub token {access.token_file} ({error.strerror})"
        return HubService(url=url, error=reason), None
    with HubClient.with_token(url, token) as client:
        return _probe_with(client, access, url)


def _probe_with(client: HubClient, access: HubAccess, url: str) -> tuple[HubService, Jupyter | None]:
    try:
        info = client.api("GET", "/info")
        scopes = token_scopes(client, access.doc_ci_user)
    except HubError as error:
        return HubService(url=url, error=str(error)), None
    spawner = info.get("spawner") or {}
    service = HubService(
        url=url,
        version=info.get("version"),
        spawner=spawner.get("class"),
        spawner_version=spawner.get("version"),
        doc_ci_scopes=scopes,
    )
    try:
        form = read_spawn_form(access)
    except HubError as error:
        return service.model_copy(update={"error": f"the spawn form could not be read: {error}"}), None
    service = service.model_copy(
        update={
            "form_fields": form.labels,
            "form_places": [FormPlace(value=v, label=label) for v, label in form.places.items()],
            "form_environments": [FormPlace(value=v, label=label) for v, label in form.environments.items()],
        }
    )
    try:
        # The form's first place and environment are its defaults, where a new user's server starts.
        options = {PLACE_FIELD: next(iter(form.places))} if form.places else {}
        kernels, jupyter = probe_default_server(client, access.doc_ci_user, options)
        environments = probe_environments(client, access.doc_ci_user, options, list(form.environments))
    except HubError as error:
        return service.model_copy(update={"error": f"the probe's server did not answer: {error}"}), None
    return service.model_copy(update={"server_kernels": kernels, "environments": environments}), jupyter


def probe_environments(
    client: HubClient, user: str, options: dict[str, str], environments: list[str]
) -> dict[str, Jupyter]:
    """Each environment's Jupyter, from a server started in it where the form's defaults put it."""
    found = {}
    for name in environments:
        if name == OWN_ENVIRONMENT:
            continue  # the user's own script: the doc CI's recipe starts one, not the probe
        try:
            outcome = client.start_and_wait(
                user, PROBE_SERVER, {**options, ENVIRONMENT_FIELD: name}, timeout_s=120
            )
            if not outcome.ready:
                raise HubError(outcome.messages[-1] if outcome.messages else "the server was never ready")
            found[name] = probe_users_server(client, user, PROBE_SERVER)
        finally:
            client.stop(user, PROBE_SERVER)
    return found


def probe_default_server(client: HubClient, user: str, options: dict[str, str]) -> tuple[list[str], Jupyter]:
    """Start a server as the user where the form's defaults put it; list its kernels and its
    Jupyter environment; stop it."""
    try:
        outcome = client.start_and_wait(user, PROBE_SERVER, options, timeout_s=120)
        if not outcome.ready:
            raise HubError(outcome.messages[-1] if outcome.messages else "the server was never ready")
        specs = client.server_api(user, PROBE_SERVER, "/kernelspecs")
        return sorted(specs.get("kernelspecs") or {}), probe_users_server(client, user, PROBE_SERVER)
    finally:
        client.stop(user, PROBE_SERVER)
