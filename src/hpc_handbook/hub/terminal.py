"""A terminal in a user's Jupyter server, driven through its REST and WebSocket API as JupyterLab's is.

A command typed there runs as the server's user, where the server runs, in a plain shell:
unlike a kernel, it leaves no history of its own once `HISTFILE` is unset, which the
terminal does first. The doc CI uses it to keep its account's home as a run found it.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from types import TracebackType

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.hub.websockets import close_websocket

#: Printed after each command with its exit status; typed as a format, so the echo never matches.
_DONE = "HANDBOOK-TERMINAL-DONE"


class TerminalError(RuntimeError):
    """The server offers no terminal, the terminal closed, or a command did not end in time."""


class NoTerminalError(TerminalError):
    """The server opened no terminal (a site may turn them off)."""


def done_pattern(token: str) -> re.Pattern[str]:
    return re.compile(rf"{_DONE}-{token}-(\d+)")


def command_line(command: str, token: str) -> str:
    """What is typed for one command: the command, then its exit status after a marker only output shows."""
    return f" {command}\n printf '{_DONE}-%s-%s\\n' {token} $?\n"


def output_of(text: str, token: str) -> tuple[int, str] | None:
    """The exit status and the output before the marker, once the marker has arrived."""
    match = done_pattern(token).search(text)
    if match is None:
        return None
    return int(match.group(1)), text[: match.start()]


class ServerTerminal:
    """One terminal of a user's server: `async with` opens it and deletes it again."""

    def __init__(self, hub: HubClient, user: str, server: str) -> None:
        self.hub, self.user, self.server = hub, user, server
        self.name: str | None = None
        self._socket: WebSocketClientConnection | None = None

    async def __aenter__(self) -> ServerTerminal:
        try:
            model = await asyncio.to_thread(self.hub.server_api, self.user, self.server, "/terminals", "POST")
        except HubError as error:
            raise NoTerminalError(f"{self.user}'s server {self.server} opened no terminal: {error}") from None
        self.name = str(model["name"])
        url = self.hub.server_url(self.user, self.server).replace("http", "ws", 1)
        request = HTTPRequest(
            f"{url}terminals/websocket/{self.name}", headers=self.hub.websocket_headers(), request_timeout=60
        )
        try:
            self._socket = await websocket_connect(request)
            # A login shell writes its history when it ends: this one must leave none.
            await self.run("unset HISTFILE; export LC_ALL=C", timeout_s=60)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await close_websocket(socket)
        if self.name is not None:
            name, self.name = self.name, None
            await self.hub.end_quietly(self.user, self.server, f"/terminals/{name}")

    async def run(self, command: str, *, timeout_s: float) -> tuple[int, str]:
        """Type one shell command and wait for it to end: its exit status and what the terminal showed."""
        if self._socket is None:
            raise TerminalError("the terminal is not open")
        token = uuid.uuid4().hex[:12]
        await self._socket.write_message(json.dumps(["stdin", command_line(command, token)]))
        shown = ""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (done := output_of(shown, token)) is None:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TerminalError(f"`{command[:80]}` did not end within {timeout_s:.0f} s")
            try:
                raw = await asyncio.wait_for(self._socket.read_message(), timeout=remaining)
            except TimeoutError:
                continue
            if raw is None:
                raise TerminalError("the server closed the terminal")
            message = json.loads(raw)
            if message and message[0] == "stdout":
                shown += str(message[1])
            elif message and message[0] == "disconnect":
                raise TerminalError("the terminal's shell ended")
        return done
