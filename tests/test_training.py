"""The training and evaluation commands, on small settings: files, records, determinism, plots; and
the compression model at work in the background variant cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from server.imaging.background_variants import VariantCache, level_target
from server.imaging.compression_model import CompressionModel, load_compression_model
from server.imaging.metrics import ssim_loss
from server.imaging.quality_model import QualityModel
from server.training.quality_fit import FitConfig

pytestmark = pytest.mark.slow


def backdrop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server", *args], capture_output=True, text=True, timeout=600)


def test_train_compression_is_deterministic_and_records_its_data(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run / "compression.json"
        done = backdrop("train", "compression", "--images", "8", "--held-out-images", "2", "--per-method", "4",
                        "--seed", "3", "--out", str(out))
        assert done.returncode == 0, done.stderr
        assert "training images: 8/8" in done.stderr  # progress
        outputs.append(out)
    documents = [json.loads(out.read_text()) for out in outputs]
    assert documents[0]["methods"] == documents[1]["methods"]  # the same weights (timings in the records differ)
    assert documents[0]["record"]["held_out"]["median_abs_error"] == documents[1]["record"]["held_out"]["median_abs_error"]
    model = CompressionModel.load(outputs[0])
    assert set(model.methods) == {"jpeg", "webp", "vp8", "h264", "blur", "downscale"}
    record = json.loads((outputs[0].parent / "compression_training.json").read_text())
    assert record["seed"] == 3 and record["training_images"] == 8 and record["samples"] == 8 * 6 * 4
    assert {"python", "numpy", "scikit-learn", "opencv", "pyav"} <= set(record["versions"])
    assert 0 <= record["held_out"]["median_abs_error"] < 1 and record["held_out"]["targets"] > 0
    assert "astronaut" in record["held_out_sources"] and "astronaut" not in record["training_sources"]


def test_train_quality_writes_a_loadable_model_and_its_record(tmp_path: Path) -> None:
    out = tmp_path / "quality.json"
    done = backdrop("train", "quality", "--clips", "6", "--frames", "12", "--held-out-clips", "4", "--seed", "2",
                    "--networks", "2", "--file-share", "0.5", "--static-share", "0.3", "--fixed-clips", "4",
                    "--head-trees", "50", "--tree-learning-rate", "0.3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    model = QualityModel.load(out)
    assert len(model.networks) == 2
    assert model.frame_head is not None and len(model.frame_head.networks) == 3
    assert model.frame_head.trees is not None and model.frame_head.tree_share == FitConfig().tree_share
    assert model.frame_head.trees.roots.size == 50
    record = json.loads((tmp_path / "quality_training.json").read_text())
    assert record["training_clips"] == 6 and record["training_frames"] > 0 and record["seed"] == 2
    assert record["head_trees"] == 50 and record["fit"]["frame_head"]["trees"] == 50
    assert record["tree_learning_rate"] == record["fit"]["frame_head"]["tree_learning_rate"] == 0.3
    assert record["fit"]["frame_head"]["keyframe_trees"] == (model.frame_head.keyframe_trees is not None)
    assert record["frames_per_clip"] == 12 and record["file_share"] == 0.5 and record["fit"]["networks"] == 2
    assert record["static_share"] == 0.3 and record["fixed_camera_clips"] == 4
    assert record["held_out_clips"] == 4 + 2  # moving-camera clips and half as many fixed-camera ones
    assert set(record["held_out"]["by_camera"]) <= {"moving", "static", "frozen"}
    assert -1 <= record["held_out"]["frame_spearman"] <= 1
    assert model.record["held_out"] == record["held_out"]


@pytest.mark.parametrize("option, value, message", [
    ("--head-trees", "-1", "head trees must be 0 or more"),
    ("--tree-learning-rate", "0", "learning rate must be above 0"),
    ("--networks", "0", "networks must be at least 1"),
])
def test_train_quality_refuses_bad_fit_settings_before_building_samples(tmp_path: Path, option: str, value: str,
                                                                         message: str) -> None:
    """A bad fit setting is a clear error at once, not after the samples (most of the run) are built."""
    out = tmp_path / "quality.json"
    done = backdrop("train", "quality", "--clips", "6", "--frames", "12", "--held-out-clips", "4", "--fixed-clips",
                    "4", option, value, "--out", str(out))
    assert done.returncode == 2 and message in done.stderr
    assert "quality: training clips" not in done.stderr and not out.exists()


def test_evaluate_prints_every_figure_and_writes_plots(tmp_path: Path) -> None:
    done = backdrop("evaluate", "--clips", "4", "--images", "3", "--report", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for needle in ("frame level: spearman", "95% between", "realtime", "file", "moving", "static", "frozen",
                   "the server's tracker", "vp8", "h264", "block level", "estimate_quality at 640x480", "compression:",
                   "model files"):
        assert needle in done.stdout, (needle, done.stdout)
    for name in ("quality_scatter.png", "quality_error_by_bitrate.png", "compression_achieved_vs_target.png"):
        assert (tmp_path / name).stat().st_size > 5000
    result = json.loads((tmp_path / "evaluation.json").read_text())
    assert result["quality"]["frames"] > 0 and "by_method" in result["compression"]
    assert set(result["quality"]["by_camera"]) == {"moving", "static", "frozen"}
    assert -1 <= result["quality"]["tracker"]["spearman"] <= 1
    low, high = result["quality"]["spearman_interval"]
    assert -1 <= low <= result["quality"]["spearman"] <= high <= 1


def test_the_variant_cache_uses_the_model_and_keeps_the_search_as_reference(coffee: np.ndarray) -> None:
    """coffee is a held-out image: the model's parameters are kept where their measured loss lands
    within half a level (after at most one bias-corrected retry), the search makes the others."""
    assert load_compression_model() is not None, "the compression model ships with the package"
    modelled, searched = VariantCache(), VariantCache(model=None)
    for method in ("jpeg", "webp", "vp8", "blur"):
        for level in (3, 6, 10):
            for cache in (modelled, searched):
                variant = cache.variant("coffee", coffee, method, level)
                # Whichever path made it, the variant lands within half a level of its target.
                assert abs(ssim_loss(coffee, variant.image) - level_target(level)) <= 0.0051, (method, level)
    assert searched.predicted == 0 and searched.searched == 12
    assert modelled.predicted + modelled.searched == 12 and modelled.predicted >= 8, modelled.predicted


def test_train_quality_defaults_are_the_shipped_models_recipe() -> None:
    """``backdrop train quality`` with no options trains the shipped model's recipe and seed, as its
    training record states them: changing a default means retraining the shipped model."""
    from server.cli import build_parser
    from server.imaging.quality_model import DEFAULT_MODEL_PATH

    record = json.loads(DEFAULT_MODEL_PATH.with_name("quality_model_training.json").read_text())
    args = build_parser().parse_args(["train", "quality"])
    assert (args.seed, args.clips, args.fixed_clips, args.frames, args.networks) == (
        record["seed"], record["training_clips"], record["fixed_camera_clips"], record["frames_per_clip"],
        record["fit"]["networks"])
    for share in ("static_share", "file_share", "compressed_source_share", "graphics_share", "grain_share",
                  "video_source_share", "bars_share"):
        assert getattr(args, share) == record[share], share
    head = record["fit"]["frame_head"]
    assert args.head_trees == FitConfig().head_trees == head.get("trees", 0)
    if args.head_trees:
        assert args.tree_learning_rate == FitConfig().tree_learning_rate == head["tree_learning_rate"]
        assert FitConfig().keyframe_trees == head["keyframe_trees"]
        assert (FitConfig().tree_depth, FitConfig().tree_leaves, FitConfig().tree_share) == (
            head["tree_depth"], head["tree_leaves"], head["tree_share"])


def test_train_compression_defaults_are_the_shipped_models_recipe() -> None:
    """The same for ``backdrop train compression`` and the shipped compression model."""
    from server.cli import build_parser
    from server.imaging.compression_model import DEFAULT_MODEL_PATH

    record = json.loads(DEFAULT_MODEL_PATH.with_name("compression_model_training.json").read_text())
    args = build_parser().parse_args(["train", "compression"])
    assert (args.seed, args.images, args.per_method, args.held_out_images) == (
        record["seed"], record["training_images"], record["per_method"], record["held_out_images"])
