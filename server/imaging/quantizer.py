"""A coded frame's quantizer: how coarsely its encoder quantized it, read from the bitstream.

The receiver has it for free and a decoded frame does not show it: at the same size and bitrate, a
busy picture is coded with a coarser quantizer than a still, clean one, and that is the level of the
loss that one frame's pixels and size leave open (``server/training/QUALITY_RECORD.md``, section 9).

- VP8: the frame header's base quantizer index (0-127), read with the header's boolean decoder
  (RFC 6386, sections 9.2-9.6).
- H.264: the mean of the per-macroblock QP (0-51) that FFmpeg's decoder exports when it is opened
  with ``export_side_data=venc_params`` (``H264_DECODER_OPTIONS``).

``log_step`` maps either to the log of its quantizer step, the scale the quantizer calibration
(``quantizer_calibration``) reads. Pure: bytes and numbers in, numbers out (a decoded PyAV frame's
side data for H.264).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from av.sidedata.sidedata import Type as SideDataType

H264_DECODER_OPTIONS = {"export_side_data": "venc_params"}
"""FFmpeg decoder options that make H.264 frames carry their QP map (``h264_mean_qp``)."""

VP8_AC_STEPS = (
    4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
    52, 53, 54, 55, 56, 57, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76,
    78, 80, 82, 84, 86, 88, 90, 92, 94, 96, 98, 100, 102, 104, 106, 108,
    110, 112, 114, 116, 119, 122, 125, 128, 131, 134, 137, 140, 143, 146, 149, 152,
    155, 158, 161, 164, 167, 170, 173, 177, 181, 185, 189, 193, 197, 201, 205, 209,
    213, 217, 221, 225, 229, 234, 239, 245, 249, 254, 259, 264, 269, 274, 279, 284,
)
"""VP8's luma AC quantizer step for each quantizer index (RFC 6386, section 14.1)."""

VP8_MAX_INDEX = 127
H264_MAX_QP = 51
_KEYFRAME_START_CODE = b"\x9d\x01\x2a"


class _BoolDecoder:
    """VP8's boolean entropy decoder (RFC 6386, section 7.3), enough to read header fields."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 2:
            raise ValueError("VP8 frame too short: its first partition is missing")
        self._data, self._position = data, 2
        self._value = (data[0] << 8) | data[1]
        self._range, self._bit_count = 255, 0

    def bool(self, probability: int) -> int:
        split = 1 + (((self._range - 1) * probability) >> 8)
        big_split = split << 8
        if self._value >= big_split:
            bit, self._range, self._value = 1, self._range - split, self._value - big_split
        else:
            bit, self._range = 0, split
        while self._range < 128:
            self._value, self._range = (self._value << 1) & 0xFFFF, self._range << 1
            self._bit_count += 1
            if self._bit_count == 8:
                self._bit_count = 0
                if self._position < len(self._data):  # past the end reads zeros, as libvpx does
                    self._value |= self._data[self._position]
                self._position += 1
        return bit

    def literal(self, bits: int) -> int:
        value = 0
        for _ in range(bits):
            value = (value << 1) | self.bool(128)
        return value

    def skip_optional_signed(self, bits: int) -> None:
        """An optional field: a flag, then ``bits`` of magnitude and a sign when it is set."""
        if self.literal(1):
            self.literal(bits + 1)


def vp8_quantizer_index(frame: bytes) -> int:
    """The base quantizer index (0-127: the luma AC step's index) in a VP8 frame's header.

    Raises ``ValueError`` for data too short to hold a frame header or a keyframe without its start
    code."""
    if len(frame) < 3:
        raise ValueError(f"VP8 frame too short: {len(frame)} bytes, its frame tag needs 3")
    keyframe = frame[0] & 1 == 0
    if keyframe:
        if len(frame) < 10 or frame[3:6] != _KEYFRAME_START_CODE:
            raise ValueError("not a VP8 keyframe: the start code 9d 01 2a is missing")
        header = _BoolDecoder(frame[10:])
        header.literal(2)  # colour space, clamping type
    else:
        header = _BoolDecoder(frame[3:])
    if header.literal(1):  # segmentation enabled
        update_map, update_data = header.literal(1), header.literal(1)
        if update_data:
            header.literal(1)  # absolute or delta values
            for _ in range(4):
                header.skip_optional_signed(7)  # each segment's quantizer
            for _ in range(4):
                header.skip_optional_signed(6)  # each segment's loop filter level
        if update_map:
            for _ in range(3):
                if header.literal(1):
                    header.literal(8)  # the segment map's tree probabilities
    header.literal(1 + 6 + 3)  # filter type, loop filter level, sharpness
    if header.literal(1) and header.literal(1):  # loop filter deltas enabled, and updated
        for _ in range(8):
            header.skip_optional_signed(6)
    header.literal(2)  # the number of DCT partitions
    return header.literal(7)


def h264_mean_qp(frame: Any) -> float | None:
    """The mean QP over an H.264 frame's macroblocks, from the encoding parameters a PyAV frame
    decoded with ``H264_DECODER_OPTIONS`` carries; None when it carries none."""
    # Looked up by type: PyAV 18.1.1 made iterating the side data yield their types, where 18.1.0
    # yielded the side data themselves.
    side_data = getattr(frame, "side_data", None)
    parameters = side_data.get(SideDataType.VIDEO_ENC_PARAMS) if side_data is not None else None
    qp_map = getattr(parameters, "qp_map", None)
    if qp_map is None:
        return None
    qps = np.asarray(qp_map(), dtype=np.float64)
    return float(qps.mean()) if qps.size else None


def frame_quantizer(codec: str, data: bytes | None = None, frame: Any = None) -> float | None:
    """A coded frame's quantizer as a receiver reads it: VP8's from the frame's bytes (``data``),
    H.264's from the decoded PyAV ``frame`` (``h264_mean_qp``); None for another codec or wherever
    it cannot be read (a truncated header, unexpected side data), so a bad frame costs the estimate
    its correction and nothing else."""
    try:
        if codec == "vp8" and data is not None:
            return float(vp8_quantizer_index(data))
        if codec == "h264" and frame is not None:
            return h264_mean_qp(frame)
    except (ValueError, TypeError, AttributeError):
        return None
    return None


def log_step(codec: str, quantizer: float) -> float:
    """The natural log of the quantizer step that ``quantizer`` (VP8: the index; H.264: the QP, mean
    of the macroblocks' or not) stands for: VP8's luma AC step table, H.264's step 0.625 * 2^(QP/6).
    Values outside the codec's range are clipped to it."""
    if not math.isfinite(quantizer):
        raise ValueError(f"quantizer must be a finite number, got {quantizer}")
    if codec == "vp8":
        return math.log(VP8_AC_STEPS[int(round(min(max(quantizer, 0.0), VP8_MAX_INDEX)))])
    if codec == "h264":
        return math.log(0.625) + min(max(quantizer, 0.0), H264_MAX_QP) / 6.0 * math.log(2.0)
    raise ValueError(f"unknown codec {codec!r}: expected 'vp8' or 'h264'")
