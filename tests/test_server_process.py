"""`backdrop serve` as a process: it starts, serves, and shuts down gracefully on SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from tests.server_harness import free_port

pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_shuts_down_gracefully(tmp_path: Path, astronaut: np.ndarray, stop_signal: int) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", "2",
                                "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"

    async def call() -> None:
        participant = SyntheticParticipant(url, "shutdown", "ann", FrameSourceTrack(lambda i: astronaut))
        deadline = time.monotonic() + 60
        while True:
            try:
                await participant.join()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        await participant.wait_for_frames("self", 10)
        workers = children(process.pid)
        assert len(workers) >= 2
        process.send_signal(stop_signal)
        for _ in range(200):  # the server closes our connection as it shuts down
            if process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        await participant.leave()
        return workers

    try:
        workers = asyncio.run(call())
        assert process.wait(timeout=20) == 0
        deadline = time.monotonic() + 5.0  # children notice their parent is gone within moments
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
                     for pid in workers if alive(pid)}
        assert not survivors, f"processes outlived the server: {survivors}"
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read() if process.stdout else ""
    assert "Traceback" not in output, output[-3000:]


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    import json
    import re
    import urllib.request

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", "1",
                                "--data-dir", str(tmp_path), "--log-format", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(r["logger"] == "server.web.app" and "worker pool ready" in r["message"] for r in records)
    assert any(r["logger"] == "aiohttp.access" for r in records)
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    # Python's own logging never falls back to text lines (native libraries' stderr is not ours to format).
    assert not [line for line in output.splitlines() if re.match(r"^\d{4}-\d\d-\d\d .* (INFO|WARNING|ERROR) ", line)]


def test_serve_finds_the_browser_client_where_told_and_says_so_when_it_is_missing(tmp_path: Path) -> None:
    """A wheel (the Docker image's install) has no client_web/ beside the package: BACKDROP_CLIENT_DIR
    points at one, and without it serve stops with an error that says what to do."""
    import shutil
    import urllib.request

    port = free_port()
    command = [sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", "1",
               "--data-dir", str(tmp_path / "data")]
    missing = subprocess.run(command, env={**os.environ, "BACKDROP_CLIENT_DIR": str(tmp_path / "nowhere")},
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0
    assert "BACKDROP_CLIENT_DIR" in missing.stderr and "serving on" not in missing.stdout

    client = tmp_path / "client"
    shutil.copytree(Path(__file__).resolve().parents[1] / "client_web", client)
    page = (client / "index.html").read_text().replace("<title>Backdrop</title>", "<title>Backdrop (copy)</title>")
    (client / "index.html").write_text(page)
    process = subprocess.Popen(command, env={**os.environ, "BACKDROP_CLIENT_DIR": str(client)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    served = response.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert "<title>Backdrop (copy)</title>" in served
    finally:
        process.terminate()
        process.wait(20)
