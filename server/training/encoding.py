"""Encode clips the way real-time senders do and decode them, keeping each frame's size and key flag."""

from __future__ import annotations

import fractions
from dataclasses import dataclass

import av
import cv2
import numpy as np


@dataclass(frozen=True)
class EncoderSetup:
    """One sender configuration: codec, target bitrate and speed preset."""

    codec: str
    """"vp8" or "h264"."""
    bitrate: int
    """Target bitrate in bits per second."""
    speed: str
    """libvpx cpu-used (e.g. "-6", as aiortc) or an x264 preset (e.g. "medium", as aiortc)."""
    cbr: bool = True
    """Constant bitrate (aiortc's VP8 setting); otherwise the encoder's default rate control."""
    denoise: bool = True
    """libvpx's temporal denoiser (aiortc sets noise-sensitivity 4)."""
    fps: int = 30


@dataclass(frozen=True)
class CodedFrame:
    """A decoded frame with what the receiver knows of its encoded form."""

    image: np.ndarray
    size: int
    keyframe: bool


def encode_decode(frames: list[np.ndarray], setup: EncoderSetup) -> list[CodedFrame]:
    """Encode ``frames`` (BGR, same size) with ``setup`` and decode them again, one result per frame."""
    height, width = frames[0].shape[:2]
    encoder = av.CodecContext.create("libvpx" if setup.codec == "vp8" else "libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, setup.fps)
    encoder.framerate = fractions.Fraction(setup.fps, 1)
    encoder.bit_rate = setup.bitrate
    encoder.thread_count = 1
    if setup.codec == "vp8":
        encoder.gop_size = 3000
        encoder.qmin, encoder.qmax = 2, 56
        options = {"cpu-used": setup.speed, "deadline": "realtime", "lag-in-frames": "0",
                   "noise-sensitivity": "4" if setup.denoise else "0", "static-thresh": "1", "partitions": "0"}
        if setup.cbr:
            rate = str(setup.bitrate)
            options.update({"bufsize": rate, "minrate": rate, "maxrate": rate,
                            "overshoot-pct": "15", "undershoot-pct": "100"})
        encoder.options = options
    else:
        encoder.gop_size = 3000
        encoder.options = {"preset": setup.speed, "tune": "zerolatency", "level": "31"}
        encoder.profile = "Baseline"
    decoder = av.CodecContext.create("vp8" if setup.codec == "vp8" else "h264", "r")
    out: list[CodedFrame] = []
    for index, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        frame.pts = index
        packets = list(encoder.encode(frame))
        size = sum(p.size for p in packets)
        keyframe = any(p.is_keyframe for p in packets)
        decoded = []
        for packet in packets:
            decoded.extend(decoder.decode(packet))
        if decoded:
            out.append(CodedFrame(decoded[-1].to_ndarray(format="bgr24"), size, keyframe))
        elif out:  # a dropped frame: the receiver keeps showing the previous picture
            out.append(CodedFrame(out[-1].image, 0, False))
        else:
            out.append(CodedFrame(np.zeros_like(image), 0, False))
    return out
