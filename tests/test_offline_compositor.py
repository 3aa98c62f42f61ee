from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from server.cli import main
from server.training.footage import Motion, render_still_clip


def write_clip(path: Path, image: np.ndarray, codec: str, frames: int = 16, bitrate: int = 300_000) -> Path:
    motion = Motion(crop=0.9, pan_x=0.002, pan_y=0.0, zoom=0.001, noise=1.0, flip=False, gain=1.0, bias=0.0)
    clip = render_still_clip(image, 320, 240, frames, motion, np.random.default_rng(0))
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(30, 1))
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = 320, 240, "yuv420p", bitrate
        for image_bgr in clip:
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def count_frames(path: Path) -> tuple[int, int, int]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return len(frames), frames[0].width, frames[0].height


@pytest.fixture()
def background(tmp_path: Path, coffee: np.ndarray) -> Path:
    path = tmp_path / "background.jpg"
    cv2.imwrite(str(path), coffee)
    return path


@pytest.mark.parametrize("codec, suffix", [("libx264", ".mp4"), ("libvpx", ".webm")])
def test_composite_writes_video_and_report(tmp_path: Path, astronaut: np.ndarray, background: Path,
                                           codec: str, suffix: str) -> None:
    source = write_clip(tmp_path / f"in{suffix}", astronaut, codec)
    output, report_path = tmp_path / "out.mp4", tmp_path / "report.json"
    status = main(["composite", str(source), "--background", str(background), "-o", str(output),
                   "--statistic", "median", "--report", str(report_path)])
    assert status == 0
    assert count_frames(output) == (16, 320, 240)
    report = json.loads(report_path.read_text())
    assert report["statistic"] == "median"
    assert report["estimation_codec"] == ("vp8" if codec == "libvpx" else "h264")
    assert len(report["frames"]) == 16
    first = report["frames"][0]
    assert first["keyframe"] is True and first["encoded_size"] > 0
    assert 0.0 <= first["quality"] <= 1.0
    assert set(first["timings_ms"]) == {"segment", "estimate", "match", "composite"}
    assert {"blur_sigma", "scale", "method", "parameter"} <= set(first["params"])
    top = 127 if codec == "libvpx" else 51  # each frame's quantizer, read as the server reads it
    assert all(0 <= frame["quantizer"] <= top for frame in report["frames"])


def test_side_by_side_doubles_the_width(tmp_path: Path, astronaut: np.ndarray, background: Path) -> None:
    source = write_clip(tmp_path / "in.mp4", astronaut, "libx264", frames=6)
    output = tmp_path / "sbs.mp4"
    assert main(["composite", str(source), "--background", str(background), "-o", str(output), "--side-by-side"]) == 0
    assert count_frames(output) == (6, 640, 240)


def test_background_pixels_are_replaced(tmp_path: Path, astronaut: np.ndarray, tmp_path_factory) -> None:
    green = np.zeros((480, 640, 3), np.uint8)
    green[:] = (0, 255, 0)
    background = tmp_path / "green.png"
    cv2.imwrite(str(background), green)
    source = write_clip(tmp_path / "in.mp4", astronaut, "libx264", frames=6, bitrate=2_000_000)
    output = tmp_path / "out.mp4"
    assert main(["composite", str(source), "--background", str(background), "-o", str(output)]) == 0
    with av.open(str(output)) as container:
        last = list(container.decode(video=0))[-1].to_ndarray(format="bgr24")
    corner = last[:30, :30].reshape(-1, 3).mean(axis=0)
    assert corner[1] > 180 and corner[0] < 80 and corner[2] < 80, corner


@pytest.mark.parametrize("make_input, message", [
    (lambda d: d / "missing.mp4", "does not exist"),
    (lambda d: (d / "junk.mp4").write_bytes(b"\x00not a video" * 100) and d / "junk.mp4", "not a video"),
])
def test_unreadable_input_is_a_clear_error(tmp_path: Path, background: Path, capsys, make_input, message) -> None:
    source = make_input(tmp_path)
    assert main(["composite", str(source), "--background", str(background), "-o", str(tmp_path / "o.mp4")]) == 2
    assert message in capsys.readouterr().err


def test_unreadable_background_is_a_clear_error(tmp_path: Path, astronaut: np.ndarray, capsys) -> None:
    source = write_clip(tmp_path / "in.mp4", astronaut, "libx264", frames=3)
    bad = tmp_path / "bg.png"
    bad.write_bytes(b"PNG? no")
    assert main(["composite", str(source), "--background", str(bad), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "not an image" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_unknown_statistic_is_a_clear_error(tmp_path: Path, background: Path, capsys) -> None:
    assert main(["composite", "x.mp4", "--background", str(background), "-o", "o.mp4", "--statistic", "mode"]) == 2
    assert "unknown statistic" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_runs_the_sample(tmp_path: Path) -> None:
    output = tmp_path / "sample.mp4"
    result = subprocess.run([sys.executable, "-m", "server", "composite", "sample", "-o", str(output)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert count_frames(output)[0] > 10
