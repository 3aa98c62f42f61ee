"""Firefox (Debian's firefox-esr, headless, fake camera) joins a room through the page's autojoin link:
its camera is composited and reaches another participant, and it receives that participant's stream.

Playwright cannot drive Debian's Firefox (it needs its own patched build, which cannot be downloaded
here), so the page joins by itself (?autojoin=1) and the checks are made from the server's side and by a
synthetic participant in the same room."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from tests.server_harness import ServerThread

pytestmark = pytest.mark.slow

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
PREFS = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.autoplay.default": 0,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "app.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "browser.startup.homepage_override.mstone": "ignore",
}


def write_profile(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f'user_pref("{name}", {str(value).lower() if isinstance(value, bool) else repr(value)});'
             for name, value in PREFS.items()]
    (directory / "user.js").write_text("\n".join(lines).replace("'", '"') + "\n")
    return directory


def test_firefox_publishes_and_receives(tmp_path: Path, astronaut: np.ndarray) -> None:
    assert FIREFOX, "firefox-esr is missing: run scripts/setup.sh"
    server = ServerThread(tmp_path / "data").start()
    profile = write_profile(tmp_path / "firefox-profile")
    firefox = None

    async def scenario() -> tuple[int, dict]:
        nonlocal firefox
        watcher = SyntheticParticipant(server.url, "ff-room", "watcher",
                                       FrameSourceTrack(lambda i: np.roll(astronaut, i % 12, axis=1)))
        await watcher.join()
        firefox = subprocess.Popen([FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
                                    f"{server.url}/?room=ff-room&name=fox&autojoin=1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            stream = await watcher.wait_for_frames("fox", 20, timeout=60)
            fox = next(p for p in server.conference.participants.values() if p.name == "fox")
            # Firefox's receive-only connection to the watcher is up and the watcher's composite flows to it.
            deadline = time.monotonic() + 30
            state = None
            while time.monotonic() < deadline:
                pc = fox.viewer_pcs.get(watcher.id)
                state = pc.connectionState if pc else None
                if state == "connected":
                    break
                await asyncio.sleep(0.2)
            sent = 0
            if state == "connected":
                await asyncio.sleep(2.0)
                report = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                    fox.viewer_pcs[watcher.id].getStats(), server.loop))
                sent = sum(getattr(s, "packetsSent", 0) for s in report.values() if s.type == "outbound-rtp")
            return stream.frames, {"state": state, "packets_sent": sent, "fox_frames_in": fox.stats.frames_in}
        finally:
            await watcher.leave()

    try:
        frames, facts = asyncio.run(scenario())
    finally:
        if firefox is not None:
            firefox.terminate()
            try:
                firefox.wait(10)
            except subprocess.TimeoutExpired:
                firefox.kill()
        server.stop()
    assert frames >= 20
    assert facts["fox_frames_in"] > 20, facts
    assert facts["state"] == "connected" and facts["packets_sent"] > 50, facts
