"""Start a ``backdrop serve`` process on a free loopback port for a benchmark, and wait until it is ready."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def start_local_server(*serve_args: str, timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """(process, base URL) of a server with a fresh data directory; its output goes to a log file whose
    path the error names if it exits or never becomes ready."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tempfile.NamedTemporaryFile("w+", prefix="backdrop-bench-", suffix=".log", delete=False)
    process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir",
                                tempfile.mkdtemp(prefix="backdrop-bench-"), *serve_args],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}; its log: {log.name}")
        try:
            if urllib.request.urlopen(f"{url}/readyz", timeout=1).status == 200:
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the server did not become ready; its log: {log.name}")
