"""Person segmentation with MediaPipe's selfie segmentation model (landscape), in video mode.

The model file ships in ``server/imaging/models`` (see PROVENANCE.md there); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from .mask_refinement import MaskRefiner, RefineSettings
from .validation import require_bgr_image

DEFAULT_MODEL_PATH = Path(__file__).with_name("models") / "selfie_segmentation_landscape.tflite"


class PersonSegmenter:
    """Segments the person in consecutive frames of one stream.

    ``segment(frame_bgr, timestamp_ms)`` returns a float32 HxW mask in 0..1 (1 = person), smoothed
    over time and refined at the edges. Timestamps must increase. Use as a context manager, or call
    ``close()``, to release the model.
    """

    def __init__(self, model_path: str | Path = DEFAULT_MODEL_PATH, refine: RefineSettings | None = None) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ValueError(f"segmentation model not found: {path}")
        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.VIDEO,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        self._segmenter = vision.ImageSegmenter.create_from_options(options)
        self._refiner = MaskRefiner(refine)
        self._last_timestamp: int | None = None
        self._shape: tuple[int, int] | None = None

    def work_size(self, width: int, height: int) -> tuple[int, int]:
        """The size (w, h) at which frames of ``width`` x ``height`` are segmented and refined."""
        return self._refiner.work_size(width, height)

    def segment(self, frame_bgr: np.ndarray, timestamp_ms: int) -> np.ndarray:
        """The person mask of ``frame_bgr`` (float32 HxW, 0..1)."""
        require_bgr_image(frame_bgr, "frame")
        # The model sees 256x144 whatever it is given: segment at the refiner's working size, not full size.
        height, width = frame_bgr.shape[:2]
        work = self.work_size(width, height)
        small = frame_bgr if work == (width, height) else cv2.resize(frame_bgr, work, interpolation=cv2.INTER_AREA)
        return self.segment_small(small, timestamp_ms, width, height)

    def segment_small(self, small_bgr: np.ndarray, timestamp_ms: int, width: int, height: int) -> np.ndarray:
        """The ``height`` x ``width`` person mask from the frame already shrunk to ``work_size``."""
        if self._segmenter is None:
            raise ValueError("segmenter is closed")
        require_bgr_image(small_bgr, "frame")
        if small_bgr.shape[:2] != self.work_size(width, height)[::-1]:
            raise ValueError(f"small frame {small_bgr.shape[1]}x{small_bgr.shape[0]} is not the working size "
                             f"of a {width}x{height} frame")
        timestamp = int(timestamp_ms)
        if self._last_timestamp is not None and timestamp <= self._last_timestamp:
            raise ValueError(f"timestamps must increase: {timestamp} after {self._last_timestamp}")
        if (height, width) != self._shape:
            self._refiner.reset()
            self._shape = (height, width)
        self._last_timestamp = timestamp
        rgb = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2RGB)
        result = self._segmenter.segment_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), timestamp)
        confidence = result.confidence_masks[0].numpy_view()
        if confidence.ndim == 3:
            confidence = confidence[:, :, 0]
        return self._refiner.refine(small_bgr, np.ascontiguousarray(confidence, dtype=np.float32), width, height)

    def close(self) -> None:
        """Release the model; further ``segment`` calls raise ValueError."""
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None

    def __enter__(self) -> "PersonSegmenter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
