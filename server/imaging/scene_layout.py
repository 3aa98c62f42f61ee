"""Where participants stand in a shared scene: seat geometry for each layout, and a frame's place in its seat.

Layouts (for an output frame of ``width`` x ``height``):

- ``cohost``: one or two broadcasters side by side, each in a half of the frame (the live co-host case);
- ``row``: up to 9 seats side by side;
- ``grid``: up to 9 seats in the smallest square-ish grid, the last row centred;
- ``seats``: seat boxes given by the scene (an uploaded auditorium with its seat positions and sizes),
  as fractions of the frame.

A participant's frame keeps its aspect ratio, is scaled to fit its seat and is anchored at the seat's
bottom centre (webcam framing cuts people at the shoulders or waist, so the bottom edge is where they
"stand").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LAYOUTS = ("cohost", "row", "grid", "seats")
MAX_SEATS = 9


@dataclass(frozen=True)
class Box:
    """A rectangle in output pixels."""

    x: int
    y: int
    width: int
    height: int

    @property
    def bottom(self) -> int:
        """The row just below the box."""
        return self.y + self.height

    @property
    def centre_x(self) -> float:
        """Horizontal centre."""
        return self.x + self.width / 2


@dataclass(frozen=True)
class SeatSpec:
    """A seat of a ``seats`` scene, as fractions (0..1) of the scene's width and height."""

    x: float
    y: float
    width: float
    height: float

    def __post_init__(self) -> None:
        if not (0 <= self.x < 1 and 0 <= self.y < 1 and 0 < self.width <= 1 and 0 < self.height <= 1
                and self.x + self.width <= 1 + 1e-9 and self.y + self.height <= 1 + 1e-9):
            raise ValueError(f"a seat must lie inside the scene (fractions 0..1): {self}")


def seat_boxes(layout: str, count: int, width: int, height: int,
               seats: list[SeatSpec] | None = None) -> list[Box]:
    """The seats of ``count`` participants (join order) in a ``width`` x ``height`` scene."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if width < 16 or height < 16:
        raise ValueError(f"the scene is too small: {width}x{height}")
    limit = 2 if layout == "cohost" else (len(seats or []) if layout == "seats" else MAX_SEATS)
    if not 0 <= count <= limit:
        raise ValueError(f"layout {layout} seats at most {limit} participants, not {count}")
    if count == 0:
        return []
    if layout == "seats":
        assert seats is not None
        return [Box(round(s.x * width), round(s.y * height), max(1, round(s.width * width)),
                    max(1, round(s.height * height))) for s in seats[:count]]
    if layout in ("cohost", "row"):
        return _row(count, width, height, margin=0.02 if layout == "row" else 0.0)
    return _grid(count, width, height)


def place_in_seat(frame_width: int, frame_height: int, seat: Box) -> Box:
    """Where a ``frame_width`` x ``frame_height`` frame goes in ``seat``: scaled to fit, aspect kept,
    bottom-centre anchored. Sizes are even (I420)."""
    if frame_width <= 0 or frame_height <= 0:
        raise ValueError(f"bad frame size {frame_width}x{frame_height}")
    scale = min(seat.width / frame_width, seat.height / frame_height)
    width = max(2, int(frame_width * scale) // 2 * 2)
    height = max(2, int(frame_height * scale) // 2 * 2)
    x = int(round(seat.centre_x - width / 2))
    return Box(x, seat.bottom - height, width, height)


def _row(count: int, width: int, height: int, margin: float) -> list[Box]:
    gap = int(round(margin * width))
    cell = (width - gap * (count + 1)) // count
    return [Box(gap + i * (cell + gap), 0, cell, height) for i in range(count)]


def _grid(count: int, width: int, height: int) -> list[Box]:
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_w, cell_h = width // columns, height // rows
    boxes = []
    for index in range(count):
        row, column = divmod(index, columns)
        in_row = min(columns, count - row * columns)
        offset = (width - in_row * cell_w) // 2  # centre a short last row
        boxes.append(Box(offset + column * cell_w, row * cell_h, cell_w, cell_h))
    return boxes


SCENE_STATISTICS = ("min", "median", "mean")
"""How the seats' qualities combine into the scene's common target (``min``: the weakest seat's)."""


def scene_target(losses: list[float], statistic: str = "min") -> float:
    """The loss every seat is matched to. Losses are predicted 1 - SSIM (higher is worse), so the
    minimum *quality* is the maximum loss: the weakest seat sets the target and is left untouched."""
    if statistic not in SCENE_STATISTICS:
        raise ValueError(f"unknown scene statistic {statistic!r}; expected one of {', '.join(SCENE_STATISTICS)}")
    if not losses:
        raise ValueError("a scene target needs at least one seat")
    ordered = sorted(float(v) for v in losses)
    if statistic == "min":
        return ordered[-1]
    if statistic == "median":
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return sum(ordered) / len(ordered)
