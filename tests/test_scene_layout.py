"""Seat geometry of the shared-scene layouts, and the scene's common quality target."""

from __future__ import annotations

import itertools

import pytest

from server.imaging.scene_layout import Box, SeatSpec, place_in_seat, scene_target, seat_boxes

SIZES = [(1280, 720), (640, 480), (1920, 1080)]


def overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


@pytest.mark.parametrize("layout, counts", [("cohost", range(0, 3)), ("row", range(0, 10)), ("grid", range(0, 10))])
@pytest.mark.parametrize("width, height", SIZES)
def test_seats_fit_the_scene_without_overlapping(layout: str, counts: range, width: int, height: int) -> None:
    for count in counts:
        boxes = seat_boxes(layout, count, width, height)
        assert len(boxes) == count
        for box in boxes:
            assert box.x >= 0 and box.y >= 0 and box.x + box.width <= width and box.bottom <= height
            assert box.width > 0 and box.height > 0
        for a, b in itertools.combinations(boxes, 2):
            assert not overlaps(a, b), (layout, count, a, b)


def test_cohost_splits_the_frame_in_halves() -> None:
    left, right = seat_boxes("cohost", 2, 1280, 720)
    assert (left.x, left.width, right.x, right.width) == (0, 640, 640, 640)
    assert left.height == right.height == 720
    (alone,) = seat_boxes("cohost", 1, 1280, 720)
    assert alone == Box(0, 0, 1280, 720)


def test_grid_shapes_and_a_centred_last_row() -> None:
    shapes = {n: (len({b.x for b in seat_boxes("grid", n, 1200, 900)}), len({b.y for b in seat_boxes("grid", n, 1200, 900)}))
              for n in (1, 2, 3, 4, 5, 9)}
    assert shapes[1] == (1, 1) and shapes[4] == (2, 2) and shapes[9] == (3, 3)
    boxes = seat_boxes("grid", 5, 1200, 900)  # 3 columns: 3 + 2, the 2 centred
    last = [b for b in boxes if b.y == boxes[-1].y]
    assert len(last) == 2 and last[0].x - 0 == 1200 - (last[-1].x + last[-1].width)


def test_seats_layout_uses_the_scene_s_seats() -> None:
    seats = [SeatSpec(0.1, 0.5, 0.2, 0.4), SeatSpec(0.6, 0.45, 0.25, 0.5)]
    assert seat_boxes("seats", 2, 1000, 500, seats) == [Box(100, 250, 200, 200), Box(600, 225, 250, 250)]
    with pytest.raises(ValueError):
        seat_boxes("seats", 3, 1000, 500, seats)
    with pytest.raises(ValueError):
        SeatSpec(0.9, 0.1, 0.3, 0.5)  # sticks out of the scene


def test_limits_are_enforced() -> None:
    for layout, count in (("cohost", 3), ("row", 10), ("grid", 10)):
        with pytest.raises(ValueError):
            seat_boxes(layout, count, 1280, 720)
    with pytest.raises(ValueError):
        seat_boxes("circle", 2, 1280, 720)


@pytest.mark.parametrize("frame", [(640, 480), (1280, 720), (480, 640), (320, 240)])
@pytest.mark.parametrize("layout, count", [("cohost", 2), ("row", 3), ("grid", 9)])
def test_a_frame_keeps_its_aspect_and_stands_on_the_seat_bottom(frame: tuple[int, int], layout: str,
                                                                count: int) -> None:
    for seat in seat_boxes(layout, count, 1280, 720):
        placed = place_in_seat(*frame, seat)
        assert placed.width % 2 == 0 and placed.height % 2 == 0
        assert abs(placed.width / placed.height - frame[0] / frame[1]) < 0.05
        assert placed.bottom == seat.bottom  # feet/shoulders anchored
        assert abs(placed.centre_x - seat.centre_x) <= 1
        assert placed.width <= seat.width and placed.height <= seat.height
        assert placed.width >= seat.width - 2 or placed.height >= seat.height - 2  # as large as fits


def test_the_weakest_seat_sets_the_target() -> None:
    losses = [0.03, 0.12, 0.06]
    assert scene_target(losses) == 0.12  # min quality = max loss
    assert scene_target(losses, "median") == 0.06
    assert scene_target(losses, "mean") == pytest.approx(0.07)
    with pytest.raises(ValueError):
        scene_target([])
    with pytest.raises(ValueError):
        scene_target(losses, "loudest")
