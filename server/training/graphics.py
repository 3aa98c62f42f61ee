"""Generated flat graphics for training: screen shares (windows, text, a moving pointer) and
animation (flat-coloured shapes with outlines, characters moving across).

Their originals are noiseless and flat where camera footage never is: a flat decoded block of such a
picture lost nothing, while a flat decoded block of a webcam's picture may have lost its noise and
fine texture. Without examples of the first kind the estimator overestimated the loss of real screen
shares and animation several times over (``scripts/probe_real_video.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CANVAS = (1280, 800)
"""Width and height of a generated picture (clips crop and scale it like a still)."""
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX)
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      .,:;()-"


def generated_graphics(rng: np.random.Generator) -> np.ndarray:
    """A screen (about 60%) or an animation frame: BGR uint8 of ``CANVAS`` size."""
    return _screen(rng) if rng.random() < 0.6 else _cartoon(rng)


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    """A random BGR colour, each channel in [low, high)."""
    return tuple(int(v) for v in rng.integers(low, high, 3))  # type: ignore[return-value]


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A flat colour or a smooth vertical gradient."""
    top, bottom = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    if rng.random() < 0.5:
        bottom = top
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    column = top * (1.0 - ramp) + bottom * ramp
    return np.ascontiguousarray(np.broadcast_to(column, (height, width, 3)).round().astype(np.uint8))


def _text(rng: np.random.Generator, image: np.ndarray, x0: int, y0: int, x1: int, y1: int,
          colour: tuple[int, int, int]) -> None:
    """Lines of random text down the box (x0, y0)-(x1, y1), from its left edge (a long line runs on
    past its right edge)."""
    font = int(rng.choice(_FONTS))
    scale = float(rng.uniform(0.35, 1.0))
    thickness = 1 if scale < 0.7 or rng.random() < 0.6 else 2
    line = int(cv2.getTextSize("Ag", font, scale, thickness)[0][1] * rng.uniform(1.4, 2.2)) + 2
    y = y0 + line
    while y < y1:
        length = int(rng.integers(5, 120))
        words = "".join(rng.choice(list(_LETTERS), length))
        cv2.putText(image, words, (x0 + 4, y), font, scale, colour, thickness, cv2.LINE_AA)
        y += line


def _screen(rng: np.random.Generator) -> np.ndarray:
    """A desktop: windows with title bars, text and buttons over a flat or graded background."""
    width, height = CANVAS
    image = _background(rng, width, height)
    dark = rng.random() < 0.3
    for _ in range(int(rng.integers(1, 5))):
        w, h = int(rng.integers(width // 3, width)), int(rng.integers(height // 3, height))
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        fill = _colour(rng, 20, 70) if dark else _colour(rng, 215, 256)
        ink = _colour(rng, 190, 256) if dark else _colour(rng, 0, 80)
        cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), fill, -1)
        bar = int(rng.integers(18, 36))
        cv2.rectangle(image, (x0, y0), (x0 + w, y0 + bar), _colour(rng), -1)
        cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), _colour(rng, 60, 200), 1)
        _text(rng, image, x0 + 2, y0 + bar, x0 + w - 2, y0 + h - 2, ink)
        for _ in range(int(rng.integers(0, 4))):  # buttons and coloured panels
            bw, bh = int(rng.integers(30, max(31, w // 3))), int(rng.integers(14, max(15, h // 4)))
            bx, by = int(rng.integers(x0, x0 + max(1, w - bw))), int(rng.integers(y0 + bar, y0 + max(bar + 1, h - bh)))
            cv2.rectangle(image, (bx, by), (bx + bw, by + bh), _colour(rng), -1)
    if rng.random() < 0.7:  # a task bar
        bar = int(rng.integers(24, 48))
        cv2.rectangle(image, (0, height - bar), (width, height), _colour(rng, 0, 120), -1)
    return image


def _shape(rng: np.random.Generator, image: np.ndarray, centre: tuple[int, int], size: int) -> None:
    """A flat-coloured ellipse, polygon or four-cornered shape with a dark outline, at ``centre``."""
    fill, outline = _colour(rng), _colour(rng, 0, 60)
    thickness = int(rng.integers(1, 6))
    kind = rng.integers(3)
    if kind == 0:
        axes = (max(2, int(size * rng.uniform(0.3, 1.0))), max(2, int(size * rng.uniform(0.3, 1.0))))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(image, centre, axes, angle, 0, 360, fill, -1, cv2.LINE_AA)
        cv2.ellipse(image, centre, axes, angle, 0, 360, outline, thickness, cv2.LINE_AA)
        return
    corners = int(rng.integers(3, 8)) if kind == 1 else 4
    angles = np.sort(rng.uniform(0, 2 * np.pi, corners)) if kind == 1 else np.array([0.25, 0.75, 1.25, 1.75]) * np.pi
    radii = size * rng.uniform(0.5, 1.0, corners)
    points = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], axis=1)
    polygon = points.round().astype(np.int32)[None]
    cv2.fillPoly(image, polygon, fill, cv2.LINE_AA)
    cv2.polylines(image, polygon, True, outline, thickness, cv2.LINE_AA)


def _cartoon(rng: np.random.Generator) -> np.ndarray:
    """An animation's frame: sky and ground in flat colours or gradients, outlined flat shapes."""
    width, height = CANVAS
    image = _background(rng, width, height)
    if rng.random() < 0.6:
        horizon = int(rng.integers(height // 3, height))
        image[horizon:] = _background(rng, width, height - horizon)
    for _ in range(int(rng.integers(4, 16))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        _shape(rng, image, centre, int(rng.integers(20, 220)))
    return image


@dataclass(frozen=True)
class Sprite:
    """A drawn element moving across a clip at constant speed: its picture premultiplied by its
    coverage (drawn on black), its coverage (0..1, partial on antialiased edges), where it starts and
    its step per frame, in output pixels."""

    on_black: np.ndarray
    alpha: np.ndarray
    start: tuple[int, int]
    step: tuple[int, int]

    @staticmethod
    def random(rng: np.random.Generator, width: int, height: int) -> "Sprite":
        """A pointer, a small window or a character, 4-30% of the frame's height, moving up to 6
        pixels a frame. Drawn twice from one seed, on black and on white: the difference is its
        coverage."""
        side = max(8, int(height * rng.uniform(0.04, 0.3)))
        kind, seed = int(rng.integers(3)), int(rng.integers(2**31))
        drawn = []
        for ground in (0, 255):
            canvas = np.full((side, side, 3), ground, np.uint8)
            _sprite_drawing(np.random.default_rng(seed), canvas, kind)
            drawn.append(canvas.astype(np.float32))
        alpha = 1.0 - (drawn[1] - drawn[0]).mean(axis=2) / 255.0
        step = (int(rng.integers(-6, 7)), int(rng.integers(-4, 5)))
        start = (int(rng.integers(0, max(1, width - side))), int(rng.integers(0, max(1, height - side))))
        return Sprite(drawn[0], np.clip(alpha, 0.0, 1.0), start, step)

    def draw(self, frame: np.ndarray, index: int) -> np.ndarray:
        """A copy of ``frame`` with the sprite where it is at frame ``index`` (clipped at the edges)."""
        out = frame.copy()
        self.paint(out, index)
        return out

    def paint(self, frame: np.ndarray, index: int) -> None:
        """Blend the sprite into ``frame`` in place, where it is at frame ``index``."""
        height, width = frame.shape[:2]
        side = self.alpha.shape[0]
        x, y = self.start[0] + self.step[0] * index, self.start[1] + self.step[1] * index
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, width), min(y + side, height)
        if x0 >= x1 or y0 >= y1:
            return
        window = np.s_[y0 - y : y1 - y, x0 - x : x1 - x]
        region = frame[y0:y1, x0:x1].astype(np.float32) * (1.0 - self.alpha[window][:, :, None])
        region += self.on_black[window]
        frame[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)


def _sprite_drawing(rng: np.random.Generator, canvas: np.ndarray, kind: int) -> None:
    """Draw sprite ``kind`` (0 a pointer, 1 a small window with text, 2 a character) on ``canvas``."""
    side = canvas.shape[0]
    if kind == 0:  # an arrow with a dark outline
        points = np.array([[0, 0], [0, 0.8], [0.22, 0.6], [0.4, 1.0], [0.52, 0.94], [0.34, 0.56], [0.6, 0.56]])
        polygon = (points * (side - 1)).round().astype(np.int32)[None]
        cv2.fillPoly(canvas, polygon, _colour(rng, 200, 256), cv2.LINE_AA)
        cv2.polylines(canvas, polygon, True, _colour(rng, 0, 40), 1, cv2.LINE_AA)
        return
    if kind == 1:
        cv2.rectangle(canvas, (0, 0), (side - 1, side - 1), _colour(rng, 200, 256), -1)
        cv2.rectangle(canvas, (0, 0), (side - 1, max(2, side // 8)), _colour(rng), -1)
        _text(rng, canvas, 1, side // 8, side - 2, side - 2, _colour(rng, 0, 80))
        return
    body = (side // 2, int(side * 0.65))
    axes = (side // 3, max(1, side // 3 - 1))
    cv2.ellipse(canvas, body, axes, 0, 0, 360, _colour(rng), -1, cv2.LINE_AA)
    cv2.circle(canvas, (side // 2, int(side * 0.25)), max(2, side // 5), _colour(rng), -1, cv2.LINE_AA)
    cv2.ellipse(canvas, body, axes, 0, 0, 360, _colour(rng, 0, 60), 2, cv2.LINE_AA)


def add_sprites(frames: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """``frames`` with one to three sprites moving across them (new arrays; the input is untouched)."""
    height, width = frames[0].shape[:2]
    sprites = [Sprite.random(rng, width, height) for _ in range(int(rng.integers(1, 4)))]
    out = []
    for index, frame in enumerate(frames):
        drawn = frame.copy()  # one copy per frame, whatever the number of sprites
        for sprite in sprites:
            sprite.paint(drawn, index)
        out.append(drawn)
    return out
