"""Run the real server (aiohttp app, worker pool, aiortc) on a free loopback port in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

from aiohttp import web

from server.settings import Settings
from server.web.app import create_app
from server.web.keys import CONFERENCE, POOL


def wait_until(condition, timeout: float = 15.0) -> bool:
    """Poll ``condition`` every 0.1 s until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


async def eventually(condition, timeout: float = 10.0) -> bool:
    """Inside an event loop: poll ``condition()`` (a value, or a coroutine of one) every 0.05 s, without
    blocking the loop, until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() >= deadline:
            return bool(value)
        await asyncio.sleep(0.05)


async def resolves_to(awaitable, expected) -> bool:
    """Whether ``awaitable`` gives ``expected``: a condition for ``eventually`` on an awaited value (a
    page's attribute, an API listing)."""
    return await awaitable == expected


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """``start()`` returns once the server is ready; ``stop()`` shuts it down gracefully."""

    def __init__(self, data_dir: Path, workers: int = 2, port: int | None = None, **settings: object) -> None:
        self.port = port or free_port()  # a given port: a server restarted where its clients expect it
        self.settings = Settings(host="127.0.0.1", port=self.port, data_dir=data_dir, workers=workers, **settings)
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.app = create_app(self.settings)
        self._runner = web.AppRunner(self.app)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> "ServerThread":
        self._thread.start()
        self.call(self._start())
        return self

    def stop(self) -> None:
        """Shut the server down (nothing to do if it is stopped already)."""
        if not self._thread.is_alive():
            return
        self.call(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def call(self, coroutine, timeout: float = 60.0):
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    @property
    def conference(self):
        return self.app[CONFERENCE]

    @property
    def pool(self):
        return self.app[POOL]
