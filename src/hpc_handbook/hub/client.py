"""A JupyterHub REST API client: log in, start named servers, follow their progress, stop them.

Used by the doc CI (with a token) and by the tests that walk the novice pages (with a
password, through the real login form). It speaks only the hub's documented API.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests


class HubError(RuntimeError):
    """The hub did not answer, refused a request, or a server did not start; the message says which."""


@dataclass
class SpawnOutcome:
    ready: bool
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0


class HubClient:
    """One account's view of a hub: `with_token` for services, `login` for a user with a password."""

    def __init__(self, url: str, session: requests.Session, *, timeout_s: float = 30) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.timeout_s = timeout_s
        #: Servers this (cookie) session has signed in to through the hub's OAuth, as a browser does.
        self._signed_in: set[str] = set()

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def with_token(cls, url: str, token: str) -> HubClient:
        session = requests.Session()
        session.headers["Authorization"] = f"token {token}"
        return cls(url, session)

    @classmethod
    def login(cls, url: str, username: str, password: str) -> HubClient:
        """Log in through the hub's own login form, as a browser does."""
        client = cls(url, requests.Session())
        try:
            client._log_in(username, password)
        except HubError:
            client.close()
            raise
        return client

    def _log_in(self, username: str, password: str) -> None:
        client, url = self, self.url
        client._request("GET", "/hub/login")  # sets the _xsrf cookie the form must echo
        xsrf = client._xsrf_headers().get("X-XSRFToken", "")
        response = client._request(
            "POST",
            "/hub/login",
            data={"username": username, "password": password, "_xsrf": xsrf},
            allow_redirects=False,
            expect=(302, 200, 403),
        )
        if response.status_code != 302:
            raise HubError(
                f"{url}: logging in as {username} failed (HTTP {response.status_code}): "
                "wrong name or password?"
            )

    def _xsrf_headers(self, path: str = "/hub/") -> dict[str, str]:
        """The XSRF token a cookie session must echo; the hub and each server set their own."""
        tokens = [
            cookie
            for cookie in self.session.cookies
            if cookie.name == "_xsrf" and path.startswith(cookie.path.rstrip("/") + "/")
        ]
        tokens.sort(key=lambda cookie: len(cookie.path), reverse=True)
        return {"X-XSRFToken": str(tokens[0].value)} if tokens else {}

    def _request(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        headers = {**self._xsrf_headers(path), **kwargs.pop("headers", {})}
        try:
            response = self.session.request(method, f"{self.url}{path}", headers=headers, **kwargs)
        except requests.RequestException as error:
            raise HubError(f"the hub at {self.url} does not answer: {type(error).__name__}") from None
        if response.status_code not in expect:
            raise HubError(f"{method} {self.url}{path}: HTTP {response.status_code}: {_message(response)}")
        return response

    def page(self, path: str) -> str:
        """A page of the hub's web interface as this session sees it (a log-in redirect is an error)."""
        response = self._request("GET", path, allow_redirects=False)
        return response.text

    def api(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self._request(method, f"/hub/api{path}", expect=expect, **kwargs)
        return response.json() if response.content else None

    def version(self) -> str:
        return str(self.api("GET", "/")["version"])

    def user(self, name: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/users/{quote(name)}"))

    def servers(self, user: str) -> dict[str, Any]:
        return dict(self.user(user).get("servers") or {})

    def _server_path(self, user: str, server: str) -> str:
        return f"/users/{quote(user)}/servers/{quote(server)}" if server else f"/users/{quote(user)}/server"

    def start(self, user: str, server: str = "", options: dict[str, Any] | None = None) -> None:
        """Ask for a server; options are what the spawn form's fields would send."""
        self.api("POST", self._server_path(user, server), json=options or {}, expect=(201, 202))

    def progress(self, user: str, server: str = "", *, timeout_s: float = 300) -> Iterator[dict[str, Any]]:
        """The spawn's progress events, as the wait page shows them, until it is ready or failed."""
        path = f"/hub/api{self._server_path(user, server)}/progress"
        if not server:
            path = f"/hub/api/users/{quote(user)}/server/progress"
        try:
            response = self.session.get(
                f"{self.url}{path}", stream=True, timeout=timeout_s, headers=self._xsrf_headers(path)
            )
        except requests.RequestException as error:
            raise HubError(f"the hub at {self.url} does not answer: {type(error).__name__}") from None
        if response.status_code != 200:
            message = _message(response)
            response.close()  # a streamed response holds its connection until closed
            raise HubError(f"GET {self.url}{path}: HTTP {response.status_code}: {message}")
        with response:
            for raw in response.iter_lines():
                line = raw.decode("utf-8", errors="replace")
                if line.startswith("data:"):
                    event = json.loads(line[len("data:") :])
                    yield event
                    if event.get("ready") or event.get("failed"):
                        return

    def start_and_wait(
        self, user: str, server: str = "", options: dict[str, Any] | None = None, *, timeout_s: float = 300
    ) -> SpawnOutcome:
        started = time.monotonic()
        self.start(user, server, options)
        outcome = SpawnOutcome(ready=False)
        for event in self.progress(user, server, timeout_s=timeout_s):
            if event.get("message"):
                outcome.messages.append(str(event["message"]))
            if event.get("ready"):
                outcome.ready = True
        outcome.seconds = time.monotonic() - started
        return outcome

    def stop(self, user: str, server: str = "", *, wait_s: float = 60) -> None:
        """Stop the server and wait until the hub no longer lists it as running."""
        self.api("DELETE", self._server_path(user, server), expect=(202, 204, 404))
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            entry = self.servers(user).get(server)
            if entry is None or (not entry.get("ready") and not entry.get("pending")):
                return
            time.sleep(0.5)
        raise HubError(f"{user}'s server {server or '(default)'} did not stop within {wait_s:.0f} s")

    def server_url(self, user: str, server: str = "") -> str:
        return f"{self.url}/user/{quote(user)}/{quote(server) + '/' if server else ''}"

    def _server_base(self, user: str, server: str) -> str:
        base = self.server_url(user, server).removeprefix(self.url)
        if "Authorization" not in self.session.headers and base not in self._signed_in:
            # Opening the server once runs the OAuth hand-shake that gives the session its cookie.
            self._request("GET", f"{base}lab", expect=(200,))
            self._signed_in.add(base)
        return base

    def server_api(self, user: str, server: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
        """A request to the single-user server's own API (kernels, kernelspecs), as this account."""
        return self.server_request(user, server, f"/api{path}", method, **kwargs)

    def websocket_headers(self) -> dict[str, str]:
        """What a websocket to the account's server needs to be let in: its token or its login cookies."""
        headers = {k: str(v) for k, v in self.session.headers.items() if k == "Authorization"}
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        if cookies:
            headers["Cookie"] = cookies
        return headers

    async def end_quietly(self, user: str, server: str, path: str) -> None:
        """DELETE a kernel or terminal of the server; if the server is gone, so is what it ran."""
        try:
            await asyncio.to_thread(self.server_api, user, server, path, "DELETE")
        except HubError:
            pass

    def server_request(self, user: str, server: str, path: str, method: str = "GET", **kwargs: Any) -> Any:
        """A JSON request to any path of the single-user server (`/lab/api/extensions`), as this account."""
        base = self._server_base(user, server)
        response = self._request(method, f"{base}{path.lstrip('/')}", expect=(200, 201, 204), **kwargs)
        return response.json() if response.content else None

    def server_page(self, user: str, server: str, path: str) -> str:
        """A page of the single-user server, as a browser of this account gets it."""
        base = self._server_base(user, server)
        return self._request("GET", f"{base}{path.lstrip('/')}", expect=(200,)).text


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", response.text[:200]))
    except ValueError:
        return response.text[:200]
