"""The frame code of ``shared/FRAMECODE.md``: a sender id and frame number drawn into the top-left corner.

Layout (frames of 640x480 and larger): 16x16 blocks on the macroblock grid, 14 per row, 3 rows, in the
top-left 224x48 pixels. Block 0 white (luma 235), block 1 black (16): the threshold references.
Blocks 2-33: 32 data bits, most significant first, ``(sender_id << 24) | frame_number``. Blocks 34-41:
CRC-8 (polynomial 0x07, initial 0) over the 4 data bytes, big-endian. The 256x64 corner has neutral
chroma and mid-grey luma outside the blocks. Reading samples the inner 8x8 of each block; a frame
whose CRC fails is unreadable, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK = 16
PER_ROW = 14
BLOCKS = 42
CORNER_WIDTH, CORNER_HEIGHT = 256, 64
WHITE, BLACK, GREY = 235, 16, 128
MIN_WIDTH, MIN_HEIGHT = 640, 480


@dataclass(frozen=True)
class FrameCode:
    """What a code says: who sent the frame and which frame it is."""

    sender_id: int
    frame_number: int


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, initial value 0, no reflection, no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def code_bits(sender_id: int, frame_number: int) -> list[int]:
    """The 42 block values (1 white, 0 black), references first."""
    if not 0 <= sender_id < 256:
        raise ValueError(f"sender id must be 0-255, got {sender_id}")
    word = (sender_id << 24) | (frame_number & 0xFFFFFF)
    data = word.to_bytes(4, "big")
    bits = [(word >> (31 - i)) & 1 for i in range(32)]
    check = crc8(data)
    return [1, 0] + bits + [(check >> (7 - i)) & 1 for i in range(8)]


def _block_origin(index: int) -> tuple[int, int]:
    return (index // PER_ROW) * BLOCK, (index % PER_ROW) * BLOCK


def stamp_i420(i420: np.ndarray, width: int, height: int, sender_id: int, frame_number: int) -> None:
    """Draw the code into an I420 frame (``(height * 3 // 2, width)`` uint8), in place."""
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ValueError(f"the frame code needs at least {MIN_WIDTH}x{MIN_HEIGHT}, got {width}x{height}")
    luma = i420[:height]
    luma[:CORNER_HEIGHT, :CORNER_WIDTH] = GREY
    for index, bit in enumerate(code_bits(sender_id, frame_number)):
        y, x = _block_origin(index)
        luma[y:y + BLOCK, x:x + BLOCK] = WHITE if bit else BLACK
    chroma = i420[height:].reshape(2, height // 2, width // 2)  # U then V planes
    chroma[:, :CORNER_HEIGHT // 2, :CORNER_WIDTH // 2] = 128


def read_code(luma: np.ndarray) -> FrameCode | None:
    """The code in a frame's luma plane (at least the 224x48 corner), or None when unreadable."""
    if luma.shape[0] < 3 * BLOCK or luma.shape[1] < PER_ROW * BLOCK:
        return None
    corner = luma[:3 * BLOCK, :PER_ROW * BLOCK].astype(np.float32)
    inner = corner.reshape(3, BLOCK, PER_ROW, BLOCK)[:, 4:12, :, 4:12].mean(axis=(1, 3)).reshape(-1)
    white, black = inner[0], inner[1]
    if white - black < 40:
        return None
    bits = (inner > (white + black) / 2).astype(int)
    word = 0
    for bit in bits[2:34]:
        word = (word << 1) | int(bit)
    check = 0
    for bit in bits[34:42]:
        check = (check << 1) | int(bit)
    if crc8(word.to_bytes(4, "big")) != check:
        return None
    return FrameCode(word >> 24, word & 0xFFFFFF)
