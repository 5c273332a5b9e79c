"""Closing a websocket to a user's server so that its socket is really closed.

Tornado's `close()` only sends the close frame and waits, on the event loop, for the server's
answer before it closes the stream. A run whose event loop ends right after would leave the
socket open until the garbage collector finds it, so we wait for the answer here, briefly,
and close the stream ourselves if it does not come.
"""

from __future__ import annotations

import asyncio

from tornado.websocket import WebSocketClientConnection

#: How long the server gets to answer the close frame; tornado itself waits five seconds.
CLOSE_WAIT_S = 5.0


async def close_websocket(socket: WebSocketClientConnection) -> None:
    stream = getattr(socket.protocol, "stream", None)
    socket.close()
    try:
        async with asyncio.timeout(CLOSE_WAIT_S):
            while await socket.read_message() is not None:
                pass  # what the server still sends before its close frame
    except TimeoutError:
        pass
    finally:
        if stream is not None and not stream.closed():
            stream.close()
