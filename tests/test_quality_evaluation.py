"""How ``backdrop evaluate`` states the uncertainty of its pooled figure (whole clips are drawn again), and
the probes of ``scripts/probe_library_defaults.py``, ``scripts/probe_real_video.py`` and
``scripts/probe_unseen_photos.py``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.stats import spearmanr

from server.imaging.quality_model import DEFAULT_MODEL_PATH
from server.training.encoding import EncoderSetup
from server.training.commands import split_sources
from server.training.footage import is_still
from server.training.quality_evaluation import (
    QualityScorer, _block_spearman, bitrate_slopes, clip_bootstrap_interval, nominal_bits_per_pixel, summarise)
from tests.script_modules import load_script


def test_block_spearman_is_undefined_without_spread(recwarn: pytest.WarningsRecorder) -> None:
    truth = np.arange(12, dtype=np.float32).reshape(3, 4) / 100
    assert _block_spearman(truth * 2 + 0.01, truth) == pytest.approx(1.0)
    assert _block_spearman(-truth, truth) == pytest.approx(-1.0)
    assert np.isnan(_block_spearman(np.full((3, 4), 0.02, np.float32), truth))
    assert np.isnan(_block_spearman(truth, np.zeros((3, 4), np.float32)))
    assert not recwarn.list  # no ConstantInputWarning from scipy


def test_a_perfect_ranking_has_no_spread() -> None:
    truth = np.linspace(0.001, 0.2, 60)
    clips = [f"c{i // 6}" for i in range(60)]
    assert clip_bootstrap_interval(truth * 3 + 0.01, truth, clips, resamples=200) == (1.0, 1.0)


def test_the_interval_holds_the_figure_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.001, 0.2, 400)
    estimate = truth + rng.normal(0, 0.05, 400)
    clips = [f"c{i // 20}" for i in range(400)]
    low, high = clip_bootstrap_interval(estimate, truth, clips, resamples=300, seed=3)
    assert low < spearmanr(estimate, truth).statistic < high
    assert (low, high) == clip_bootstrap_interval(estimate, truth, clips, resamples=300, seed=3)


def test_clips_not_frames_are_the_unit_drawn_again() -> None:
    """Twelve clips of forty identical frames hold twelve observations, not 480: drawing frames
    again would give a far narrower interval than drawing clips."""
    rng = np.random.default_rng(2)
    per_clip_truth = rng.uniform(0.001, 0.2, 12)
    per_clip_estimate = per_clip_truth + rng.normal(0, 0.05, 12)
    truth, estimate = np.repeat(per_clip_truth, 40), np.repeat(per_clip_estimate, 40)
    by_clip = clip_bootstrap_interval(estimate, truth, [f"c{i // 40}" for i in range(480)], resamples=300)
    by_frame = clip_bootstrap_interval(estimate, truth, [f"f{i}" for i in range(480)], resamples=300)
    assert by_clip[1] - by_clip[0] > 3 * (by_frame[1] - by_frame[0])


def _probe_script():
    return load_script("probe_library_defaults")


def test_the_library_defaults_probe_repeats_held_out_stills_at_the_encoders_defaults() -> None:
    probe = _probe_script()
    specs = probe.probe_specs(frames=6, seed=40)
    stills = {source for source in split_sources()[1] if is_still(source)}
    assert {spec.source for spec in specs} == stills
    assert len(specs) == len(stills) * len(probe.SIZES) * 2 * len(probe.BITRATES)
    assert len({spec.seed for spec in specs}) == len(specs)
    for spec in specs:
        assert spec.camera == "frozen" and spec.frames == 6 and not spec.source_codec
        setup = spec.setup
        assert (setup.realtime, setup.speed, setup.gop, setup.cbr, setup.denoise) == (False, "", 0, False, False)
    small = next(spec for spec in specs if (spec.width, spec.height) == (320, 240))
    rows = QualityScorer(str(DEFAULT_MODEL_PATH))(small)
    assert len(rows) == 6 and rows[0]["keyframe"] and all(row["camera"] == "frozen" for row in rows)
    assert all(0.0 <= row["estimate"] <= 1.0 and 0.0 <= row["truth"] <= 1.0 for row in rows)
    assert {spec.setup.input_conversion for spec in specs} == {"opencv"}
    swscaled = probe.probe_specs(frames=6, seed=40, input_conversion="pyav")
    assert [dataclasses.replace(spec, setup=dataclasses.replace(spec.setup, input_conversion="opencv"))
            for spec in swscaled] == specs


def test_the_real_video_probe_scores_unseen_footage_resized_and_re_encoded(tmp_path: Path) -> None:
    probe = load_script("probe_real_video")
    training_sources = split_sources()[0]
    assert not set(probe.UNSEEN_VIDEOS) & set(training_sources)
    frame = np.zeros((272, 640, 3), np.uint8)
    frame[:, 300:340] = 255  # a centred bar stays centred through the crop to 4:3
    fitted = probe.fit_to(frame, 320, 240)
    assert fitted.shape == (240, 320, 3) and fitted[:, 160].min() == 255 and fitted[:, 0].max() == 0
    rows = probe.VideoClipScorer(str(DEFAULT_MODEL_PATH), start=10, frames=5)(
        ("bikes.mp4", (320, 240), "vp8", 300_000, "file"))
    assert len(rows) == 5 and rows[0]["keyframe"]
    assert {(row["video"], row["sender"], row["camera"], row["size"]) for row in rows} == {
        ("bikes.mp4", "file", "moving", "320x240")}
    assert all(0.0 < row["truth"] < 1.0 and 0.0 < row["estimate"] < 1.0 and row["bpp"] > 0 for row in rows)
    probe.write_rows(rows, tmp_path / "rows.json")
    written = json.loads((tmp_path / "rows.json").read_text())
    assert [(row["index"], row["keyframe"], row["video"]) for row in written] == [
        (row["index"], bool(row["keyframe"]), row["video"]) for row in rows]
    assert [row["truth"] for row in written] == pytest.approx([float(row["truth"]) for row in rows])
    assert probe.sender("realtime", "h264", 500_000) == EncoderSetup("h264", 500_000, "veryfast", cbr=True, denoise=True)
    assert probe.sender("realtime", "vp8", 80_000) == EncoderSetup("vp8", 80_000, "-6", cbr=True, denoise=True)
    assert probe.sender("file", "vp8", 500_000) == EncoderSetup("vp8", 500_000, "", cbr=False, denoise=False,
                                                                realtime=False)
    assert {probe.sender(kind, "vp8", 500_000, "pyav").input_conversion for kind in probe.SENDERS} == {"pyav"}
    swscaled = probe.VideoClipScorer(str(DEFAULT_MODEL_PATH), start=10, frames=5, input_conversion="pyav")(
        ("bikes.mp4", (320, 240), "vp8", 300_000, "file"))
    assert len(swscaled) == 5 and [row["truth"] for row in swscaled] != [row["truth"] for row in rows]


def test_the_real_video_probe_separates_calibration_between_videos_from_ranking_within() -> None:
    probe = load_script("probe_real_video")
    truth = np.concatenate([np.linspace(0.01, 0.1, 20), np.linspace(0.012, 0.12, 20)])
    videos = np.array(["a"] * 20 + ["b"] * 20)
    estimate = truth * np.where(videos == "a", 1.0, 8.0)  # each video ranked perfectly, b overestimated
    assert spearmanr(estimate, truth).statistic < 0.9
    assert probe.spearman_within_groups(estimate, truth, videos) == pytest.approx(1.0)
    noisy = estimate * np.random.default_rng(0).uniform(0.5, 2.0, 40)
    assert probe.spearman_within_groups(noisy, truth, videos) < 0.99
    rows = [{"estimate": e, "truth": t} for e, t, video in zip(estimate, truth, videos) if video == "b"]
    assert probe.median_log_error(rows) == pytest.approx(np.log(8.0))


def test_the_real_video_probe_scores_each_streams_level_apart_from_its_frames() -> None:
    probe = load_script("probe_real_video")
    rows = [{"video": video, "bitrate": bitrate, "size": "320x240", "codec": "vp8", "sender": "file"}
            for video in ("a", "b") for bitrate in (80_000, 5_000_000) for _ in range(10)]
    streams = probe.group_labels(rows, probe.ENCODE)
    assert len(set(streams)) == 4 and streams[0] == "a/80000/320x240/vp8/file"
    rng = np.random.default_rng(1)
    level = np.repeat([0.2, 0.02, 0.1, 0.01], 10)
    truth = level * rng.uniform(0.9, 1.1, 40)
    # Frames ranked backwards within each stream, levels right: the streams' medians rank as the truth does.
    backwards = np.concatenate([level[i : i + 10] * np.linspace(1.1, 0.9, 10)[np.argsort(np.argsort(truth[i : i + 10]))]
                                for i in range(0, 40, 10)])
    assert spearmanr(backwards, truth).statistic < probe.spearman_of_group_medians(backwards, truth, streams)
    # Levels swapped between two streams: no frame-to-frame ranking mends it.
    swapped = truth * np.repeat([1.0, 1.0, 0.05, 1.0], 10)
    assert probe.spearman_of_group_medians(swapped, truth, streams) < 0.8
    assert probe.spearman_within_groups(swapped, truth, streams) == pytest.approx(1.0, abs=0.01)


def test_the_real_video_probe_scores_every_draw_of_three_videos_against_bits_per_pixel() -> None:
    probe = load_script("probe_real_video")
    rng = np.random.default_rng(2)
    videos = np.repeat(["a", "b", "c", "d"], 30)
    bpp = np.tile(np.geomspace(0.01, 1.0, 30), 4)
    content = np.repeat([0.5, 1.0, 2.0, 4.0], 30)  # each video's loss at one bits per pixel
    truth = content * 0.01 / np.sqrt(bpp) * rng.uniform(0.95, 1.05, 120)
    draws = probe.spearman_of_footage_draws(truth * rng.uniform(0.98, 1.02, 120), bpp, truth, videos)
    assert draws.shape == (4, 2)  # four ways to draw three of four videos
    assert np.all(draws[:, 1] > 0.99) and np.all(draws[:, 0] < 0.9)
    # Bits per pixel alone ranks a draw of one video's frames better than a draw across contents.
    alone = probe.spearman_of_footage_draws(truth, bpp, truth, videos, per_draw=1)
    assert np.all(alone[:, 0] > 0.95) and np.all(alone[:, 0] > draws[:, 0].max())
    assert np.allclose(alone[:, 1], 1.0)
    assert probe.spearman_of_footage_draws(truth, bpp, truth, videos, per_draw=5).shape == (0, 2)


def test_the_probe_states_draws_against_a_baseline_and_those_ranked_as_on_the_issues_content() -> None:
    probe = load_script("probe_real_video")
    draws = np.array([[0.60, 0.91], [0.66, 0.85], [0.40, 0.99]])
    line = probe.draws_line(draws, "nominal bits per pixel")
    assert "draws of 3 videos (3): nominal bits per pixel alone 0.553, spearman 0.917 on average" in line
    assert probe.draws_line(draws, "bits per pixel", per_draw=2).startswith("  draws of 2 videos (3): ")
    assert "the 2 where nominal bits per pixel alone is 0.63 +- 0.07" in line
    assert "spearman 0.880 on average (0.850 to 0.910), 1 of them at 0.90 or more" in line
    assert probe.draws_line(draws[2:], "bits per pixel").endswith("none")
    assert probe.draws_line(np.zeros((0, 2)), "bits per pixel") is None


def test_a_streams_nominal_bits_per_pixel_is_its_bitrate_over_the_pixels_it_sends() -> None:
    rows = [{"size": "320x240", "bitrate": 80_000, "fps": 30}, {"size": "1280x720", "bitrate": 5_000_000, "fps": 25}]
    assert nominal_bits_per_pixel(rows) == pytest.approx([80_000 / (320 * 240 * 30), 5_000_000 / (1280 * 720 * 25)])


def test_the_summary_ranks_frames_by_their_own_and_by_their_streams_nominal_bits_per_pixel() -> None:
    # Two streams at 320x240: the one sent at the higher bitrate has the lower loss, but its frames'
    # own sizes say the opposite; the nominal figure ranks them right, the frames' own wrong.
    rows = [{"clip": f"c{bitrate}", "size": "320x240", "camera": "moving", "codec": "vp8", "sender": "file",
             "bitrate": bitrate, "fps": 30, "truth": truth + 0.001 * index, "estimate": truth + 0.001 * index,
             "tracked": truth + 0.001 * index, "bpp": bpp, "block_spearman": 0.5}
            for bitrate, truth, bpp in ((100_000, 0.2, 0.9), (1_000_000, 0.02, 0.1)) for index in range(4)]
    summary = summarise(rows)
    assert summary["nominal_bpp_spearman"] > 0.7
    assert summary["bpp_spearman"] < -0.7


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    """``frames`` (BGR) as an MJPEG file PyAV reads back."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuvj420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode(None))


def test_the_real_video_probe_takes_each_clip_from_its_footage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.training import footage

    probe = load_script("probe_real_video")
    assert set(footage.DEBIAN_CLIPS) - set(footage.DEBIAN_VIDEOS) <= set(probe.UNSEEN_VIDEOS)
    _write_video(tmp_path / "levels.avi", [np.full((48, 64, 3), 20 * index, np.uint8) for index in range(10)])
    clip = footage.DebianClip("some-package", str(tmp_path / "levels.avi"), "grey levels", first_frame=3)
    monkeypatch.setitem(footage.DEBIAN_CLIPS, "levels.avi", clip)

    def levels(start: int, frames: int) -> list[int]:
        footage = probe.VideoClipScorer("", start, frames).footage("levels.avi")
        return [round(float(frame.mean()) / 20) for frame in footage]

    assert levels(start=2, frames=3) == [5, 6, 7]  # counted from the footage's first frame
    assert levels(start=20, frames=4) == [6, 7, 8, 9]  # a short clip gives its last frames
    with pytest.raises(ValueError, match="fewer than 8 frames"):
        levels(start=0, frames=8)


def test_bitrate_slopes_measure_how_fast_loss_falls_as_bits_rise() -> None:
    rows = []
    for video, level in (("a", 1.0), ("b", 5.0)):
        for bitrate in (100_000, 400_000, 1_600_000):
            truth = level * 0.1 * (bitrate / 100_000) ** -0.5  # the loss halves as the bitrate quadruples
            estimate = level * 0.1 * (bitrate / 100_000) ** -0.25  # the estimate falls half as fast
            rows += [{"video": video, "size": "320x240", "codec": "vp8", "sender": "file", "bitrate": bitrate,
                      "truth": truth * noise, "estimate": estimate} for noise in (0.9, 1.0, 1.1)]
    assert bitrate_slopes(rows) == pytest.approx((-0.5, -0.25), abs=0.01)
    with pytest.raises(ValueError, match="three bitrates"):
        bitrate_slopes([row for row in rows if row["bitrate"] != 100_000])


def test_the_real_video_probe_states_each_groups_bitrate_slopes() -> None:
    probe = load_script("probe_real_video")
    rows = [{"video": "a", "size": "320x240", "codec": "vp8", "sender": "file", "bitrate": bitrate,
             "truth": 0.1 * (bitrate / 100_000) ** -0.5, "estimate": 0.1 * (bitrate / 100_000) ** -0.25}
            for bitrate in (100_000, 400_000, 1_600_000)]
    assert probe.slopes_text(rows) == ", loss against bitrate: truth ^-0.50, estimate ^-0.25"
    assert probe.slopes_text(rows[:2]) == ""  # two bitrates make no slope
    line = probe._line("video a", [{**row, "tracked": row["estimate"], "bpp": row["bitrate"] / 1e6} for row in rows])
    assert line.startswith("  video a") and line.endswith(", loss against bitrate: truth ^-0.50, estimate ^-0.25")


def test_the_bitrate_slope_probe_scores_one_still_at_every_bitrate() -> None:
    probe = load_script("probe_bitrate_slopes")
    rows = probe.score_series("astronaut", 320, 240, "vp8", 1.0, 3, DEFAULT_MODEL_PATH)
    assert sorted({row["bitrate"] for row in rows}) == list(probe.BITRATES)
    assert {(row["video"], row["noise"], row["sender"]) for row in rows} == {("astronaut", 1.0, "realtime")}
    truth, estimate = bitrate_slopes(rows)
    assert truth < -0.2 and estimate < 0.0  # more bits, less loss, and the estimate says so


def test_the_photograph_probe_scores_each_picture_encoded_alone_as_a_keyframe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut: np.ndarray) -> None:
    probe = load_script("probe_unseen_photos")
    monkeypatch.setenv("BACKDROP_FOOTAGE_DIR", str(tmp_path))
    name = probe.PHOTOS[0]
    if probe.photo_path(name) is None:  # not installed system-wide: unpack a stand-in where the fetch would
        target = tmp_path / "usr/share" / name
        target.parent.mkdir(parents=True)
        assert cv2.imwrite(str(target), astronaut)
    assert probe.photo_path(name) is not None and probe.photo_path("no/such/picture.png") is None
    rows = probe.PhotoScorer(str(DEFAULT_MODEL_PATH))((name, (320, 240), "h264", 200_000, "realtime"))
    assert len(rows) == 1 and rows[0]["keyframe"] and rows[0]["photo"] == name and rows[0]["sender"] == "realtime"
    assert 0.0 < rows[0]["truth"] < 1.0 and 0.0 < rows[0]["estimate"] < 1.0 and rows[0]["bpp"] > 0
    with pytest.raises(ValueError, match="cannot read the photograph"):
        probe.PhotoScorer(str(DEFAULT_MODEL_PATH))(("no/such/picture.png", (320, 240), "vp8", 200_000, "file"))
    swscaled = probe.PhotoScorer(str(DEFAULT_MODEL_PATH), "pyav")((name, (320, 240), "h264", 200_000, "realtime"))
    assert len(swscaled) == 1 and swscaled[0]["keyframe"] and swscaled[0]["truth"] != rows[0]["truth"]


def test_with_a_quantizer_calibration_each_frame_is_also_scored_corrected_by_its_quantizer() -> None:
    from server.imaging.quantizer_calibration import DEFAULT_CALIBRATION_PATH, load_calibration
    from server.training.quality_evaluation import summarise

    specs = _probe_script().probe_specs(frames=6, seed=40)
    clips = [spec for spec in specs if (spec.width, spec.height) == (320, 240)][:4]
    plain = [row for spec in clips for row in QualityScorer(str(DEFAULT_MODEL_PATH))(spec)]
    rows = [row for spec in clips for row in QualityScorer(str(DEFAULT_MODEL_PATH), str(DEFAULT_CALIBRATION_PATH))(spec)]
    assert "calibrated" not in summarise(plain) and all("calibrated" not in row for row in plain)
    assert [row["estimate"] for row in rows] == [row["estimate"] for row in plain]
    calibration = load_calibration()
    assert all(0.0 < row["calibrated"] <= 1.0 and 0.0 < row["calibrated_tracked"] <= 1.0 for row in rows)
    assert any(row["calibrated"] != row["estimate"] for row in rows)
    assert calibration.record["quality_model"]["path"] == DEFAULT_MODEL_PATH.name
    summary = summarise(rows)
    assert summary["calibrated"]["frames"] == len(rows) and set(summary["calibrated_by_codec"]) <= {"vp8", "h264"}
    assert summary["calibrated_interval"][0] <= summary["calibrated"]["spearman"] <= summary["calibrated_interval"][1]
    assert -1 <= summary["calibrated_tracker"]["spearman"] <= 1
