"""Encode clips the way senders do and decode them, keeping each frame's size, key flag and quantizer.

Two families of sender: real-time ones (one frame in, one packet out: libvpx at the realtime
deadline, x264 with zerolatency, a keyframe only at the start, as aiortc and browsers send), and
file-style ones (the libraries' defaults as PyAV gives them: look-ahead, x264's B-frames, periodic
keyframes). Frames are matched to packets by timestamp, so reordering and encoder delay are handled.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass

import av
import cv2
import numpy as np

from ..imaging.quantizer import H264_DECODER_OPTIONS, frame_quantizer

INPUT_CONVERSIONS: tuple[str, ...] = ("opencv", "pyav")


@dataclass(frozen=True)
class EncoderSetup:
    """One sender configuration: codec, target bitrate and speed preset."""

    codec: str
    """"vp8" or "h264"."""
    bitrate: int
    """Target bitrate in bits per second."""
    speed: str
    """libvpx cpu-used (e.g. "-6", as aiortc) or an x264 preset (e.g. "medium", as aiortc); "" keeps
    the library's default (file-style senders only)."""
    cbr: bool = True
    """Constant bitrate (aiortc's VP8 setting); otherwise the encoder's default rate control."""
    denoise: bool = True
    """libvpx's temporal denoiser (aiortc sets noise-sensitivity 4)."""
    fps: int = 30
    realtime: bool = True
    """A real-time sender; otherwise a file-style one (see the module docstring)."""
    gop: int = 0
    """Frames between keyframes for file-style senders; 0 keeps the library's default."""
    input_conversion: str = "opencv"
    """How the BGR frames become the encoder's I420: ``"opencv"`` (OpenCV's conversion, as the
    training data are made) or ``"pyav"`` (handed over as bgr24 and converted by PyAV's swscale
    reformatter, what ``VideoFrame.from_ndarray(frame, format="bgr24")`` then ``encode`` gives)."""

    def __post_init__(self) -> None:
        if self.input_conversion not in INPUT_CONVERSIONS:
            raise ValueError(f"input_conversion must be one of {', '.join(INPUT_CONVERSIONS)}, "
                             f"got {self.input_conversion!r}")


@dataclass(frozen=True)
class CodedFrame:
    """A decoded frame with what the receiver knows of its encoded form."""

    image: np.ndarray
    size: int
    keyframe: bool
    quantizer: float | None = None
    """VP8: the frame header's base quantizer index; H.264: the mean QP of its macroblocks, read
    as the receiver reads them (``imaging.quantizer.frame_quantizer``); None for a dropped frame."""


def _encoder(setup: EncoderSetup, width: int, height: int) -> av.CodecContext:
    encoder = av.CodecContext.create("libvpx" if setup.codec == "vp8" else "libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, setup.fps)
    encoder.framerate = fractions.Fraction(setup.fps, 1)
    encoder.bit_rate = setup.bitrate
    encoder.thread_count = 1
    options: dict[str, str] = {}
    if setup.realtime:
        encoder.gop_size = 3000
    elif setup.gop:
        encoder.gop_size = setup.gop
    if setup.codec == "vp8":
        if setup.realtime:
            encoder.qmin, encoder.qmax = 2, 56
            options.update({"deadline": "realtime", "lag-in-frames": "0", "static-thresh": "1", "partitions": "0"})
        if setup.speed:
            options["cpu-used"] = setup.speed
        options["noise-sensitivity"] = "4" if setup.denoise else "0"
        if setup.cbr:
            rate = str(setup.bitrate)
            options.update({"bufsize": rate, "minrate": rate, "maxrate": rate,
                            "overshoot-pct": "15", "undershoot-pct": "100"})
    else:
        if setup.speed:
            options["preset"] = setup.speed
        if setup.realtime:
            options.update({"tune": "zerolatency", "level": "31"})
            encoder.profile = "Baseline"
    encoder.options = options
    return encoder


def encode_decode(frames: list[np.ndarray], setup: EncoderSetup) -> list[CodedFrame]:
    """Encode ``frames`` (BGR, same size) with ``setup`` and decode them again, one result per frame in
    display order. A frame the encoder dropped shows the previous picture with size 0, as a receiver
    would."""
    height, width = frames[0].shape[:2]
    encoder = _encoder(setup, width, height)
    decoder = av.CodecContext.create("vp8" if setup.codec == "vp8" else "h264", "r")
    if setup.codec == "h264":
        decoder.options = dict(H264_DECODER_OPTIONS)
    packets: dict[int, tuple[int, bool]] = {}
    pictures: dict[int, np.ndarray] = {}
    quantizers: dict[int, float | None] = {}

    def picture(decoded: av.VideoFrame) -> None:
        pictures[decoded.pts] = decoded.to_ndarray(format="bgr24")
        if setup.codec == "h264":
            quantizers[decoded.pts] = frame_quantizer("h264", frame=decoded)

    def receive(encoded: list[av.Packet]) -> None:
        for packet in encoded:
            size, keyframe = packets.get(packet.pts, (0, False))
            packets[packet.pts] = (size + packet.size, keyframe or packet.is_keyframe)
            if setup.codec == "vp8":
                quantizers[packet.pts] = frame_quantizer("vp8", data=bytes(packet))
            for decoded in decoder.decode(packet):
                picture(decoded)

    for index, image in enumerate(frames):
        if setup.input_conversion == "pyav":
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")  # the encoder reformats it
        else:
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        frame.pts = index
        receive(list(encoder.encode(frame)))
    receive(list(encoder.encode(None)))
    for decoded in decoder.decode(None):
        picture(decoded)
    out: list[CodedFrame] = []
    for index, image in enumerate(frames):
        if index in pictures and index in packets:
            size, keyframe = packets[index]
            out.append(CodedFrame(pictures[index], size, keyframe, quantizers.get(index)))
        elif out:  # a dropped frame: the receiver keeps showing the previous picture
            out.append(CodedFrame(out[-1].image, 0, False))
        else:
            out.append(CodedFrame(np.zeros_like(image), 0, False))
    return out
