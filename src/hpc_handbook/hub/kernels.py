"""Kernels inside a Jupyter server, driven through its REST and WebSocket API as JupyterLab does.

A kernel started this way runs where the server runs and as the server's user: on the
login node or inside the server's Slurm job. Used by the doc CI through the hub and by
the tests that check what a user's server offers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nbformat
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.hub.websockets import close_websocket


class KernelError(RuntimeError):
    """The kernel did not start, died, or did not answer in time; the message says which."""


@dataclass
class CellRun:
    outputs: list[nbformat.NotebookNode] = field(default_factory=list)
    status: str = "ok"
    error: str = ""


def _message(msg_type: str, content: Mapping[str, Any], session: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "session": session,
            "username": "",
            "date": dt.datetime.now(dt.UTC).isoformat(),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": dict(content),
        "channel": "shell",
        "buffers": [],
    }


class ServerKernel:
    """One kernel in a user's server: start it, run code cell by cell, shut it down."""

    def __init__(self, hub: HubClient, user: str, server: str, kernel_name: str) -> None:
        self.hub, self.user, self.server, self.kernel_name = hub, user, server, kernel_name
        self.kernel_id: str | None = None
        self.session = uuid.uuid4().hex
        self._socket: WebSocketClientConnection | None = None

    async def start(self, *, timeout_s: float = 120, path: str = "") -> None:
        body = {"name": self.kernel_name, "path": path}
        try:
            model = await asyncio.to_thread(
                self.hub.server_api, self.user, self.server, "/kernels", "POST", json=body
            )
        except HubError as error:
            raise KernelError(f"kernel {self.kernel_name!r} did not start: {error}") from None
        self.kernel_id = str(model["id"])
        await self._open_channels(timeout_s)

    async def reconnect(self, *, timeout_s: float = 120) -> None:
        """Open the kernel's channels again, as JupyterLab does after its connection was lost.

        The same session: the server keeps what the kernel said meanwhile and sends it now.
        """
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await close_websocket(socket)
        await self._open_channels(timeout_s)

    async def _open_channels(self, timeout_s: float) -> None:
        url = self.hub.server_url(self.user, self.server).replace("http", "ws", 1)
        request = HTTPRequest(
            f"{url}api/kernels/{self.kernel_id}/channels?session_id={self.session}",
            headers=self.hub.websocket_headers(),
            request_timeout=timeout_s,
        )
        try:
            # Tornado's own timeout, not a cancellation from outside: a connection cancelled
            # half-way keeps its socket open.
            self._socket = await websocket_connect(request, max_message_size=64 * 1024 * 1024)
        except (HTTPClientError, OSError) as error:
            raise KernelError(f"kernel {self.kernel_name!r}: its channels did not open: {error}") from None
        # kernel_info answers once the kernel is up: what "ready" means for JupyterLab too.
        await self._request("kernel_info_request", {}, timeout_s=timeout_s)

    async def _request(
        self, msg_type: str, content: Mapping[str, Any], *, timeout_s: float, cell: CellRun | None = None
    ) -> dict[str, Any]:
        """Send one shell request; collect its outputs until the kernel is idle and has replied."""
        assert self._socket is not None
        message = _message(msg_type, content, self.session)
        msg_id = message["header"]["msg_id"]
        await self._socket.write_message(json.dumps(message))
        reply: dict[str, Any] | None = None
        idle = False
        deadline = asyncio.get_running_loop().time() + timeout_s
        while reply is None or not idle:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError
            raw = await asyncio.wait_for(self._socket.read_message(), timeout=remaining)
            if raw is None:
                raise KernelError(f"kernel {self.kernel_name!r}: the server closed the connection")
            if isinstance(raw, bytes):
                continue  # binary frames carry buffers (widgets): the examples print none
            incoming = json.loads(raw)
            if incoming.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = incoming["header"]["msg_type"]
            if incoming.get("channel") == "shell":
                reply = incoming
            elif kind == "status" and incoming["content"].get("execution_state") == "idle":
                idle = True
            elif cell is not None and kind in ("stream", "display_data", "execute_result", "error"):
                cell.outputs.append(nbformat.v4.output_from_msg(incoming))
            elif cell is not None and kind == "clear_output":
                cell.outputs.clear()
        return reply

    async def run(self, code: str, *, timeout_s: float, store_history: bool = True) -> CellRun:
        """Run code as a cell; `store_history=False` keeps it out of the kernel's history (IPython's)."""
        cell = CellRun()
        reply = await self._request(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": store_history,
                "allow_stdin": False,
                "stop_on_error": True,
            },
            timeout_s=timeout_s,
            cell=cell,
        )
        cell.status = reply["content"].get("status", "ok")
        if cell.status == "error":
            content = reply["content"]
            cell.error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
        return cell

    async def shutdown(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await close_websocket(socket)
        if self.kernel_id is not None:
            kernel_id, self.kernel_id = self.kernel_id, None
            await self.hub.end_quietly(self.user, self.server, f"/kernels/{kernel_id}")


async def run_once(
    hub: HubClient, user: str, server: str, kernel_name: str, code: str, timeout_s: float = 120
) -> CellRun:
    """Start a kernel, run one piece of code, shut the kernel down: what a quick check needs."""
    kernel = ServerKernel(hub, user, server, kernel_name)
    try:
        await kernel.start(timeout_s=timeout_s)
        return await kernel.run(code, timeout_s=timeout_s)
    finally:
        await kernel.shutdown()


def stream_text(run: CellRun) -> str:
    return "".join(str(o.get("text", "")) for o in run.outputs if o.get("output_type") == "stream")
