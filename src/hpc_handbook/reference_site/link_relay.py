"""Relay TCP connections from the host's end of an emulated link to a service on loopback.

The hub's proxy listens on 127.0.0.1 only, which a client in the link's namespace cannot reach;
the relay listens on the host's link address and opens one connection to the service for each
connection from the namespace's end, copying both ways, half-closes included. It runs an
asyncio loop in a thread of its own, so a browser's many connections and websockets cost no
thread each.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading

#: Larger than what a read usually brings; the copy loops read at most this much at a time.
READ_SIZE = 65536
#: How long starting or stopping the thread may take.
THREAD_TIMEOUT_S = 5.0
#: The thread's name; it starts like the names of everything else a link makes.
THREAD_NAME = "hbk-link-relay"
#: SO_LINGER on, with no time: closing the socket resets the connection.
_RESET = struct.pack("ii", 1, 0)


class Relay:
    """Forwards TCP connections from `peer` to `host`:`port` on to 127.0.0.1:`target_port`.

    `port` 0 lets the system pick; `port` holds the one it picked once `start` returns.
    """

    def __init__(self, host: str, port: int, target_port: int, *, peer: str) -> None:
        self.host = host
        self.port = port
        self.target_port = target_port
        self.peer = peer
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: OSError | None = None
        self._server: asyncio.Server | None = None
        #: Each open connection's handler, with its client's end.
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._thread = threading.Thread(target=self._serve, name=THREAD_NAME, daemon=True)

    def start(self) -> None:
        """Listen; OSError says why it cannot, TimeoutError that the thread did not start in time."""
        self._thread.start()
        if not self._ready.wait(THREAD_TIMEOUT_S):
            raise TimeoutError(f"the relay did not start listening on {self.host} in {THREAD_TIMEOUT_S} s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(THREAD_TIMEOUT_S)

    def _serve(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._connected, self.host, self.port, backlog=128)
                )
            except OSError as exc:
                self._error = exc
                return
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
        finally:
            self._ready.set()
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task, client in self._connections.items():
            # A reset frees the host's socket at once; a FIN would be retransmitted for minutes
            # to a namespace that is about to go.
            with contextlib.suppress(OSError, AttributeError):
                client.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    async def _connected(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = client
        upstream: asyncio.StreamWriter | None = None
        try:
            # The host takes packets for its link address from any interface; only the
            # namespace's end of the link may reach the loopback service through the relay.
            if client.get_extra_info("peername")[0] != self.peer:
                return
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
            ends = (client, upstream)
            await asyncio.gather(_pipe(client_reader, upstream, ends), _pipe(upstream_reader, client, ends))
        except OSError:
            # The target refused or went away: the client sees its connection closed.
            pass
        except asyncio.CancelledError:
            # Only `_shutdown` cancels, and waits for the connections to close; a handler that ends
            # cancelled would make asyncio log it as an error.
            pass
        finally:
            self._connections.pop(task, None)
            for writer in (client, upstream):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()


async def _pipe(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    ends: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
) -> None:
    """Copy until the source's end of file, then half-close the sink, as the source did."""
    try:
        while data := await source.read(READ_SIZE):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except OSError:
        # A reset on either side ends both directions; the other copy would wait forever otherwise.
        for writer in ends:
            writer.transport.abort()
