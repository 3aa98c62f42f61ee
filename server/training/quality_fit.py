"""Fit the quality estimator's networks on labelled frames and score them on held-out ones.

The block networks learn each block's log loss from its features; the frame head (networks here, and
gradient-boosted trees fitted by ``tree_head_fit``) learns the frame's log loss from the frame
summary. What was measured on the fit's settings, what was tried and not adopted, the lead that does
not fit the budgets yet (averaging two runs), and where the held-out and real-footage error comes
from: ``QUALITY_RECORD.md`` beside this module, section 6.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np

from ..imaging.features import FRAME_FEATURES
from ..imaging.mlp import Network
from ..imaging.quality_model import FRAME_LOG_OFFSET, LOG_OFFSET, FrameHead, QualityModel
from .parallel import in_parallel
from .quality_samples import FrameSample
from .recipe import BLOCK_NETWORKS, HEAD_TREES, TREE_LEARNING_RATE
from .tree_head_fit import fit_tree_heads


@dataclass(frozen=True)
class FitConfig:
    """Training knobs."""

    hidden: tuple[int, ...] = (32, 16)
    blocks_per_frame: int = 120
    max_iter: int = 60
    alpha: float = 1e-3
    """L2 penalty of both ensembles: 1e-3 ranked held-out content a little better than 1e-4 and 1e-2
    did (and than 1e-2 for the frame head)."""
    networks: int = BLOCK_NETWORKS
    """Ensemble size: network k draws its blocks and its initial weights from seed + k. One since the
    chroma features joined the frame head (format /7), to keep ``estimate_quality`` under 2 ms: three
    ranked frames no better (blocks a little better) and cost 0.15 ms more (``QUALITY_RECORD.md``,
    section 6)."""
    seed: int = 0
    head_hidden: tuple[int, ...] = (64, 32)
    """The frame head's layers: (128, 64) and (32, 16) ranked held-out frames worse
    (``QUALITY_RECORD.md``, section 6)."""
    head_networks: int = 3
    """The frame head's networks (seeds ``seed`` + k). Ensemble size narrows the spread between runs,
    not their level (``QUALITY_RECORD.md``, section 6)."""
    head_weight: float = 0.7
    """The frame head's share of the frame's loss (in the log domain; the rest is the blocks' mean). 0.7
    ranked the synthetic held-out sets best; larger shares gained up to 0.005 on real footage and lost
    up to 0.012 on those sets (``QUALITY_RECORD.md``, section 6)."""
    head_trees: int = HEAD_TREES
    """Gradient-boosted trees in the frame head (0: networks only; ``recipe.HEAD_TREES``), mixed
    with the networks by ``tree_share``."""
    tree_depth: int = 5
    """Each tree's depth at most: every frame walks this many steps through all trees at once."""
    tree_leaves: int = 15
    tree_learning_rate: float = TREE_LEARNING_RATE
    """Each tree's step (shrinkage): fewer trees need a larger one (``recipe.TREE_LEARNING_RATE``)."""
    tree_share: float = 0.5
    """The trees' share of the head's log estimate (the networks have the rest): half and half ranked
    real footage 0.010-0.019 above the networks alone, held-out frames within 0.006 of them
    (``QUALITY_RECORD.md``, sections 6 and 7)."""
    keyframe_trees: bool = True
    """Fit the trees twice, on the keyframes and on the other frames, each scoring its own kind
    (``FrameHead.keyframe_trees``); False: one set for every frame."""

    def __post_init__(self) -> None:
        if self.networks < 1:
            raise ValueError(f"networks must be at least 1, got {self.networks}")
        if self.head_trees < 0:
            raise ValueError(f"head trees must be 0 or more, got {self.head_trees}")
        if not self.tree_learning_rate > 0.0:
            raise ValueError(f"the trees' learning rate must be above 0, got {self.tree_learning_rate}")


def _training_rows(samples: list[FrameSample], blocks_per_frame: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``blocks_per_frame`` random blocks of each frame: feature rows and true block losses."""
    rng = np.random.default_rng(seed)
    rows, targets = [], []
    for sample in samples:
        count = sample.features.shape[0]
        pick = rng.choice(count, size=min(count, blocks_per_frame), replace=False)
        rows.append(sample.features[pick])
        targets.append(sample.block_loss.reshape(-1)[pick])
    return np.concatenate(rows).astype(np.float64), np.concatenate(targets).astype(np.float64)


def fit(samples: list[FrameSample], config: FitConfig, workers: int = 1) -> QualityModel:
    """Train the ensemble of block-loss MLPs, each on its own subsample of each frame's blocks, and
    the frame head on the frames' summaries and true losses: the networks are independent, so
    ``workers`` processes fit them side by side (the result does not depend on ``workers``)."""
    started = time.perf_counter()
    block_jobs, mean, scale, rows_used = _block_jobs(samples, config)
    summaries, log_losses = _head_data(samples)
    head_jobs, head_mean, head_scale = _head_jobs(summaries, log_losses, config)
    fitted = _fit_members(block_jobs + head_jobs, workers)
    networks, epochs = zip(*fitted[: len(block_jobs)])
    head_networks, head_epochs = zip(*fitted[len(block_jobs):])
    trees, keyframe_trees = fit_tree_heads(summaries, log_losses, config) if config.head_trees else (None, None)
    head = FrameHead(mean=head_mean.astype(np.float32), scale=head_scale.astype(np.float32),
                     networks=tuple(head_networks), weight=config.head_weight, log_offset=FRAME_LOG_OFFSET,
                     trees=trees, tree_share=config.tree_share if trees is not None else 0.0,
                     keyframe_trees=keyframe_trees)
    record = {"training_rows": rows_used, "training_frames": len(samples), "seed": config.seed,
              "networks": config.networks, "hidden": list(config.hidden), "alpha": config.alpha,
              "epochs": list(epochs),
              "frame_head": {"networks": config.head_networks, "hidden": list(config.head_hidden),
                             "weight": config.head_weight, "epochs": list(head_epochs),
                             "trees": config.head_trees, "tree_depth": config.tree_depth,
                             "tree_leaves": config.tree_leaves,
                             "tree_learning_rate": config.tree_learning_rate, "tree_share": head.tree_share,
                             "keyframe_trees": keyframe_trees is not None},
              "fit_seconds": round(time.perf_counter() - started, 1), "python": platform.python_version()}
    return QualityModel(mean=mean.astype(np.float32), scale=scale.astype(np.float32), networks=tuple(networks),
                        record=record, log_offset=LOG_OFFSET, frame_head=head)


@dataclass(frozen=True)
class _MemberJob:
    """One ensemble member to fit: its standardised inputs, its targets and the regressor's settings."""

    inputs: np.ndarray
    targets: np.ndarray
    settings: dict


def _block_jobs(samples: list[FrameSample], config: FitConfig) -> tuple[list[_MemberJob], np.ndarray, np.ndarray, int]:
    """The block networks' jobs: network k learns log(block loss + ``LOG_OFFSET``) on the blocks drawn
    with seed + k, standardised by the first draw's mean and spread (returned with the row count)."""
    jobs, mean, scale, rows_used = [], None, None, 0
    for member in range(config.networks):
        seed = config.seed + member
        x, y = _training_rows(samples, config.blocks_per_frame, seed)
        if mean is None:
            mean = x.mean(axis=0)
            scale = 1.0 / np.maximum(x.std(axis=0), 1e-6)
        settings = dict(hidden_layer_sizes=config.hidden, activation="relu", alpha=config.alpha, batch_size=512,
                        learning_rate_init=2e-3, max_iter=config.max_iter, early_stopping=True,
                        n_iter_no_change=6, random_state=seed, verbose=False)
        jobs.append(_MemberJob((x - mean) * scale, np.log(y + LOG_OFFSET), settings))
        rows_used = int(x.shape[0])
    assert mean is not None and scale is not None
    return jobs, mean, scale, rows_used


def _head_data(samples: list[FrameSample]) -> tuple[np.ndarray, np.ndarray]:
    """The frame head's training data: the frames' raw summaries and the log of their true loss."""
    x = np.stack([sample.summary for sample in samples]).astype(np.float64)
    return x, np.log(np.array([sample.frame_loss for sample in samples]) + FRAME_LOG_OFFSET)


def _head_jobs(summaries: np.ndarray, log_losses: np.ndarray,
               config: FitConfig) -> tuple[list[_MemberJob], np.ndarray, np.ndarray]:
    """The frame head's jobs (``_head_data``'s arrays): ``config.head_networks`` MLPs from the frames'
    summaries to the log of their true loss (seeds ``config.seed + k``), with the summaries'
    standardisation."""
    mean = summaries.mean(axis=0)
    scale = 1.0 / np.maximum(summaries.std(axis=0), 1e-6)
    standardised = (summaries - mean) * scale
    jobs = [_MemberJob(standardised, log_losses, dict(hidden_layer_sizes=config.head_hidden, activation="relu",
                                                      alpha=config.alpha, batch_size=256,
                                                      learning_rate_init=1e-3, max_iter=400, early_stopping=True,
                                                      n_iter_no_change=15, random_state=config.seed + member))
            for member in range(config.head_networks)]
    return jobs, mean, scale


def _fit_members(jobs: list[_MemberJob], workers: int) -> list[tuple[Network, int]]:
    """Each job's fitted network and epochs, in the jobs' order, on ``workers`` processes."""
    return in_parallel(_fit_member, jobs, workers, "quality: fitting networks")


def _fit_member(job: _MemberJob) -> list[tuple[Network, int]]:
    """Fit one MLP (scikit-learn's ``MLPRegressor``): [its numpy ``Network`` and its epochs]."""
    from sklearn.neural_network import MLPRegressor  # training-only dependency

    regressor = MLPRegressor(**job.settings)
    regressor.fit(job.inputs, job.targets)
    return [(_network_of(regressor), int(regressor.n_iter_))]


def _network_of(regressor) -> Network:
    """A fitted scikit-learn ``MLPRegressor``'s layers as the numpy ``Network`` shipped in model files."""
    return Network(tuple(w.astype(np.float32) for w in regressor.coefs_),
                   tuple(b.astype(np.float32) for b in regressor.intercepts_))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN, without scipy's warning, for fewer
    than three pairs or where either side has no spread (a flat picture's blocks)."""
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def evaluate(model: QualityModel, samples: list[FrameSample]) -> dict:
    """Frame- and block-level agreement of the model with the true loss on ``samples``."""
    matrices = [model.rescale(model.predict(s.features).reshape(s.block_loss.shape), s.summary) for s in samples]
    predicted = np.array([float(matrix.mean()) for matrix in matrices])
    truth = np.array([s.frame_loss for s in samples])
    bpp = np.array([s.features[0, -len(FRAME_FEATURES)] for s in samples])
    block_rho = [spearman(matrix.reshape(-1), s.block_loss.reshape(-1)) for matrix, s in zip(matrices, samples)]
    report: dict = {
        "frames": len(samples),
        "frame_spearman": spearman(predicted, truth),
        "frame_pearson": float(np.corrcoef(predicted, truth)[0, 1]),
        "bpp_only_spearman": spearman(-bpp, truth),
        "median_abs_error": float(np.median(np.abs(predicted - truth))),
        "block_spearman_median": float(np.nanmedian(block_rho)),
    }
    groupings = {
        "by_sender": ["realtime" if s.spec.setup.realtime else "file" for s in samples],
        "by_camera": [s.spec.camera for s in samples],
        "by_codec": [s.spec.setup.codec for s in samples],
        "by_resolution": [f"{s.spec.width}x{s.spec.height}" for s in samples],
    }
    for group, labels in groupings.items():
        names = np.array(labels)
        report[group] = {name: spearman(predicted[names == name], truth[names == name])
                         for name in sorted(set(labels), key=lambda n: (len(n), n)) if (names == name).sum() > 2}
    return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in report.items()}
