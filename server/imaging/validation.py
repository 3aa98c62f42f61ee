"""Input checks shared by the imaging functions; every failure is a ValueError saying what is wrong."""

from __future__ import annotations

import numpy as np


def require_bgr_image(image: object, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is a non-empty HxWx3 uint8 array, else raise ValueError."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be HxWx3 (BGR), got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"{name} is empty or too small: shape {image.shape}")
    return image


def require_luma(image: object, name: str = "luma") -> np.ndarray:
    """Return ``image`` if it is a non-empty 2-D array, else raise ValueError."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {image.shape}")
    return image


def require_mask(mask: object, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """Return ``mask`` as float32 HxW in 0..1, checking it matches ``shape``."""
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim != 2:
        raise ValueError(f"{name} must be HxW, got shape {mask.shape}")
    if mask.shape != shape:
        raise ValueError(f"{name} shape {mask.shape} does not match the frame's {shape}")
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) * (1.0 / 255.0)
    if not np.issubdtype(mask.dtype, np.floating):
        raise ValueError(f"{name} must be float (0..1) or uint8 (0..255), got {mask.dtype}")
    return np.clip(mask, 0.0, 1.0).astype(np.float32, copy=False)


def require_same_size(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    """Raise ValueError unless the two images have the same height and width."""
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"{a_name} is {a.shape[1]}x{a.shape[0]} but {b_name} is {b.shape[1]}x{b.shape[0]}")


def require_choice(value: object, choices: tuple[str, ...], name: str) -> str:
    """Return ``value`` if it is one of ``choices`` (strings), else raise ValueError."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
    return value  # type: ignore[return-value]
