"""The quality estimator's pixel features, checked against direct computations."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from server.imaging.compression import compress
from server.imaging.chroma import CHROMA_BANDS, chroma_features, chroma_features_i420
from server.imaging.features import (
    BLOCK_FEATURES, CHROMA_FEATURES, FRAME_FEATURES, block_columns, block_features, frame_features, frame_luma_u8,
    frame_summary, _position_sums, percentiles,
)
from server.imaging.quality import load_model
from server.training.encoding import EncoderSetup, encode_decode
from server.training.footage import Motion, gaussian_noise, generated_texture, render_still_clip
from server.training.quality_samples import (
    BARS, GRAINS, SOURCE_CODECS, SOURCE_QUALITIES, VIDEO_SOURCE_BPP, VIDEO_SOURCE_CODECS, VIDEO_SOURCE_SCALES,
    fixed_camera_specs, make_specs, render_clip,
)

_HADAMARD = np.array([[1, 1, 1, 1], [1, 1, -1, -1], [1, -1, -1, 1], [1, -1, 1, -1]], np.float64)


def _direct_spectrum(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log mean |high-frequency| and its log ratio to the low AC, per 16x16 block, by matrix products."""
    height, width = y.shape
    blocks = y.astype(np.float64).reshape(height // 4, 4, width // 4, 4).transpose(0, 2, 1, 3)
    coefficients = np.abs(np.einsum("ij,abjk,lk->abil", _HADAMARD, blocks, _HADAMARD))
    high_mask = np.ones((4, 4), bool)
    high_mask[:2, :2] = False
    high = coefficients[:, :, high_mask].mean(axis=2) / 4
    low = (coefficients[:, :, 0, 1] + coefficients[:, :, 1, 0] + coefficients[:, :, 1, 1]) / 3 / 4
    pool = lambda a: a.reshape(height // 16, 4, width // 16, 4).mean(axis=(1, 3))  # noqa: E731
    log_high = np.log(pool(high) + 0.5)
    return log_high, log_high - np.log(pool(low) + 0.5)


def test_transform_features_match_a_direct_hadamard_transform(astronaut: np.ndarray) -> None:
    y = frame_luma_u8(astronaut)
    features = block_features(y)
    log_high, high_to_low = _direct_spectrum(y)
    np.testing.assert_allclose(features[:, :, BLOCK_FEATURES.index("log_high_freq")], log_high, atol=1e-4)
    np.testing.assert_allclose(features[:, :, BLOCK_FEATURES.index("high_to_low_freq")], high_to_low, atol=1e-4)


def test_texture_statistics_match_numpy(astronaut: np.ndarray) -> None:
    y = frame_luma_u8(astronaut)
    tiles = y.astype(np.float64).reshape(y.shape[0] // 16, 16, y.shape[1] // 16, 16)
    variance = tiles.var(axis=(1, 3))
    features = block_features(y)
    np.testing.assert_allclose(features[:, :, BLOCK_FEATURES.index("log_var")], np.log1p(variance), atol=2e-3)
    np.testing.assert_allclose(features[:, :, BLOCK_FEATURES.index("log_mean_luma")],
                               np.log(tiles.mean(axis=(1, 3)) + 8.0), atol=1e-4)


def test_noise_feature_rises_with_added_noise_and_falls_with_smoothing(astronaut: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noisy = np.clip(astronaut + rng.normal(0, 6, astronaut.shape), 0, 255).astype(np.uint8)
    smooth = cv2.GaussianBlur(astronaut, (0, 0), 1.5)
    column = BLOCK_FEATURES.index("log_noise")
    level = {name: float(block_features(frame_luma_u8(image))[:, :, column].mean())
             for name, image in (("clean", astronaut), ("noisy", noisy), ("smooth", smooth))}
    assert level["smooth"] < level["clean"] < level["noisy"], level


def test_noise_feature_is_each_blocks_rounded_mean_operator_magnitude(astronaut: np.ndarray) -> None:
    """The block mean of Immerkaer's operator (quartered, saturated to a byte), rounded half to even
    as the OpenCV resize the model was trained with rounded it; a checkerboard saturates every pixel."""
    rng = np.random.default_rng(1)
    noisy = np.clip(astronaut + rng.normal(0, 9, astronaut.shape), 0, 255).astype(np.uint8)
    checkerboard = np.repeat((np.indices((96, 128)).sum(axis=0) % 2 * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    kernel = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0])
    for image in (astronaut, noisy, checkerboard):
        y = frame_luma_u8(image)
        response = cv2.filter2D(y.astype(np.float64), -1, kernel, borderType=cv2.BORDER_REPLICATE)
        magnitude = np.minimum(np.rint(np.abs(response) * 0.25), 255.0)
        means = magnitude.reshape(y.shape[0] // 16, 16, y.shape[1] // 16, 16).mean(axis=(1, 3))
        expected = np.log(np.rint(means) + 0.5)
        np.testing.assert_allclose(block_features(y)[:, :, BLOCK_FEATURES.index("log_noise")], expected, atol=1e-6)


def test_frame_features_have_their_declared_length(astronaut: np.ndarray) -> None:
    blocks = block_features(frame_luma_u8(astronaut))
    assert blocks.shape == (astronaut.shape[0] // 16, astronaut.shape[1] // 16, len(BLOCK_FEATURES))
    frame = frame_features(blocks, 4000, False, "vp8", astronaut.shape[1], astronaut.shape[0])
    assert frame.shape == (len(FRAME_FEATURES),) and np.isfinite(frame).all()


@pytest.mark.parametrize("codec, bitrate, size", [("vp8", 80_000, (320, 240)), ("h264", 1_500_000, (640, 480)),
                                                 ("vp8", 5_000_000, (208, 144))])
def test_shared_block_columns_give_the_same_frame_inputs_as_computing_them_apart(
        astronaut: np.ndarray, codec: str, bitrate: int, size: tuple[int, int]) -> None:
    # estimate_quality sorts the block features once for the frame features and the frame head's
    # summary; what the model was trained on (each computed on its own) must not move by one bit.
    model = load_model()
    picture = cv2.resize(astronaut, size, interpolation=cv2.INTER_AREA)
    for received in encode_decode([picture] * 3, EncoderSetup(codec, bitrate, "")):
        blocks = block_features(frame_luma_u8(received.image))
        columns = block_columns(blocks)
        alone = frame_features(blocks, received.size, received.keyframe, codec, *size)
        shared = frame_features(blocks, received.size, received.keyframe, codec, *size, columns)
        np.testing.assert_array_equal(shared, alone)
        chroma = chroma_features(received.image)
        np.testing.assert_array_equal(frame_summary(blocks, shared, chroma, columns),
                                      frame_summary(blocks, alone, chroma))
        np.testing.assert_array_equal(model.estimate(blocks, shared, chroma, columns),
                                      model.estimate(blocks, alone, chroma))


@pytest.mark.parametrize("codec, bitrate, size", [("vp8", 100_000, (640, 480)), ("h264", 2_000_000, (208, 144))])
def test_step_and_context_features_are_the_position_means_and_box_filters_they_stand_for(
        astronaut: np.ndarray, codec: str, bitrate: int, size: tuple[int, int]) -> None:
    # block_features sums the step positions once and filters the context features as channels of
    # one array; the model was trained on means over the positions picked out and on one box filter
    # per feature, and must see the same floats.
    picture = cv2.resize(astronaut, size, interpolation=cv2.INTER_AREA)
    received = encode_decode([picture] * 2, EncoderSetup(codec, bitrate, ""))[-1]
    y = frame_luma_u8(received.image)
    rows, cols = y.shape[0] // 16, y.shape[1] // 16
    blocks = block_features(y)
    both, _, _ = _position_sums(y, rows, cols)
    edge4 = both[:, :, [3, 7, 11]].mean(axis=2) * (1.0 / 32)
    inner = both[:, :, [p for p in range(15) if p % 4 != 3]].mean(axis=2) * (1.0 / 32)
    edge16 = both[:, :, 15] * (1.0 / 32)
    edge16[:, -1], edge16[-1, :] = edge4[:, -1], edge4[-1, :]
    column = {name: blocks[:, :, index] for index, name in enumerate(BLOCK_FEATURES)}
    np.testing.assert_array_equal(column["log_grad_inner"], np.log(inner + 0.5).astype(np.float32))
    np.testing.assert_array_equal(column["log_grad_edge4"], np.log(edge4 + 0.5).astype(np.float32))
    np.testing.assert_array_equal(column["blockiness16"], np.log((edge16 + 0.5) / (inner + 0.5)).astype(np.float32))
    for name in ("log_var", "blockiness4", "zero_step_share", "sharpness"):
        alone = cv2.blur(np.ascontiguousarray(column[name]), (3, 3), borderType=cv2.BORDER_REPLICATE)
        np.testing.assert_array_equal(column[f"near_{name}"], alone)


def test_camera_noise_is_deterministic_in_the_clips_generator_and_as_wide_in_every_channel() -> None:
    first = gaussian_noise((240, 320, 3), 2.0, np.random.default_rng(5))
    np.testing.assert_array_equal(first, gaussian_noise((240, 320, 3), 2.0, np.random.default_rng(5)))
    assert not np.array_equal(first, gaussian_noise((240, 320, 3), 2.0, np.random.default_rng(6)))
    assert first.dtype == np.float32 and abs(float(first.mean())) < 0.05
    np.testing.assert_allclose(first.reshape(-1, 3).std(axis=0), 2.0, rtol=0.03)
    # neighbouring pixels and channels are independent
    assert abs(np.corrcoef(first[:, :-1, 0].ravel(), first[:, 1:, 0].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(first[:, :, 0].ravel(), first[:, :, 1].ravel())[0, 1]) < 0.02


def test_generated_textures_are_deterministic_dense_and_varied() -> None:
    first = generated_texture(np.random.default_rng(3), size=256)
    again = generated_texture(np.random.default_rng(3), size=256)
    other = generated_texture(np.random.default_rng(4), size=256)
    assert first.shape == (256, 256, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # Texture from edge to edge: every 16x16 block has detail.
    variance = block_features(frame_luma_u8(first))[:, :, BLOCK_FEATURES.index("log_var")]
    assert (variance > np.log1p(4.0)).mean() > 0.9


def test_static_training_clips_keep_the_camera_still() -> None:
    specs = make_specs(["astronaut", "coffee"], 12, seed=5, static_share=1.0, texture_share=0.25)
    assert all(spec.static for spec in specs)
    assert any(spec.source == "texture" for spec in specs)
    held_out = make_specs(["astronaut", "coffee"], 12, seed=5)
    assert not any(spec.static or spec.source == "texture" for spec in held_out)
    still = next(spec for spec in specs if spec.source != "texture")
    moving = next(spec for spec in held_out if spec.source == still.source)
    still = dataclasses.replace(still, frames=12)
    moving = dataclasses.replace(moving, frames=12)

    def drift(frames: list[np.ndarray]) -> float:
        """How far the picture moves between the first and the last frame, beyond the noise."""
        first, last = (cv2.GaussianBlur(f, (0, 0), 2).astype(float) for f in (frames[0], frames[-1]))
        return float(np.abs(first - last).mean())

    assert drift(render_clip(still)) < 1.0 < drift(render_clip(moving))


def test_fixed_camera_clips_are_stills_half_held_half_frozen() -> None:
    specs = fixed_camera_specs(["astronaut", "coffee", "bikes.mp4"], 40, seed=5, texture_share=0.2)
    assert all(spec.source != "bikes.mp4" and spec.camera in ("static", "frozen") for spec in specs)
    assert 10 <= sum(spec.static for spec in specs) <= 30  # about half each
    frozen = dataclasses.replace(next(s for s in specs if s.frozen and s.source != "texture"), frames=6)
    frames = render_clip(frozen)
    assert all(np.array_equal(frames[0], frame) for frame in frames[1:])  # the same picture every frame
    statics = [render_clip(dataclasses.replace(s, frames=3)) for s in specs if s.static][:8]
    assert all(np.abs(c[0].astype(float) - c[-1]).mean() < 5 for c in statics)  # at most camera noise
    assert any(not np.array_equal(c[0], c[-1]) for c in statics)  # some with noise
    with pytest.raises(ValueError, match="still"):
        fixed_camera_specs(["bikes.mp4"], 4, seed=1)


@pytest.mark.parametrize("noise", [0.0, 2.0])
def test_a_fixed_camera_clip_is_the_frames_rendered_one_call_at_a_time(astronaut: np.ndarray, noise: float) -> None:
    # A fixed camera's view is warped once and reused: the frames must be those a fresh warp gives.
    motion = dataclasses.replace(Motion.random(np.random.default_rng(4)), pan_x=0.0, pan_y=0.0, zoom=0.0,
                                 noise=noise)
    together = render_still_clip(astronaut, 160, 120, 4, motion, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    one_by_one = [render_still_clip(astronaut, 160, 120, 1, motion, rng)[0] for _ in range(4)]
    assert len(together) == 4 and all(np.array_equal(a, b) for a, b in zip(together, one_by_one))
    assert (noise > 0) == (not np.array_equal(together[0], together[-1]))


def test_compressed_sources_pass_through_jpeg_or_webp_and_leave_the_held_out_protocol_alone() -> None:
    sources = ["astronaut", "coffee"]
    plain = make_specs(sources, 16, seed=6)
    assert plain == make_specs(sources, 16, seed=6, compressed_source_share=0.0)
    assert not any(spec.source_codec for spec in plain)
    compressed = make_specs(sources, 16, seed=6, compressed_source_share=1.0)
    assert {spec.source_codec for spec in compressed} == set(SOURCE_CODECS)
    low, high = SOURCE_QUALITIES
    assert all(low <= spec.source_quality <= high for spec in compressed)
    assert all(spec.source_codec for spec in fixed_camera_specs(sources, 6, seed=6, compressed_source_share=1.0))
    frozen = next(s for s in fixed_camera_specs(sources, 6, seed=6, compressed_source_share=1.0) if s.frozen)
    for spec in (dataclasses.replace(compressed[0], frames=3), dataclasses.replace(frozen, frames=3)):
        source = render_clip(dataclasses.replace(spec, source_codec="", source_quality=0))
        frames = render_clip(spec)  # a frozen camera's one picture is compressed once
        for original, seen in zip(source, frames):
            assert np.array_equal(seen, compress(original, spec.source_codec, spec.source_quality))
            assert not np.array_equal(seen, original)


def test_video_coded_sources_are_coded_at_their_own_size_and_leave_the_held_out_protocol_alone() -> None:
    sources = ["astronaut", "coffee"]
    assert make_specs(sources, 16, seed=6) == make_specs(sources, 16, seed=6, video_source_share=0.0)
    coded = make_specs(sources, 24, seed=6, video_source_share=1.0)
    assert {spec.source_codec for spec in coded} == set(VIDEO_SOURCE_CODECS)
    assert {spec.source_scale for spec in coded} == set(VIDEO_SOURCE_SCALES)
    low, high = (1000 * bpp for bpp in VIDEO_SOURCE_BPP)
    assert all(low <= spec.source_quality <= high for spec in coded)
    for scale in VIDEO_SOURCE_SCALES:
        spec = dataclasses.replace(next(s for s in coded if s.source_scale == scale), frames=4, grain=0.0)
        frames = render_clip(spec)
        assert len(frames) == 4 and all(frame.shape == (spec.height, spec.width, 3) for frame in frames)
        if spec.source_codec == "vp8":  # x264 as a file-style sender is not always deterministic (README)
            assert all(np.array_equal(a, b) for a, b in zip(frames, render_clip(spec)))
        plain = render_clip(dataclasses.replace(spec, source_codec="", source_quality=0, source_scale=1.0))
        for original, seen in zip(plain, frames):
            # The coded source is the plain one with its finest detail lost: close, never equal.
            error = float(np.sqrt(np.mean((original.astype(float) - seen.astype(float)) ** 2)))
            assert 0.5 < error < 25.0


def test_black_bars_are_digital_black_on_two_sides_and_leave_the_held_out_protocol_alone() -> None:
    sources = ["astronaut", "coffee"]
    assert make_specs(sources, 16, seed=6) == make_specs(sources, 16, seed=6, bars_share=0.0)
    framed = make_specs(sources, 40, seed=6, bars_share=1.0)
    assert {spec.bars for spec in framed} == set(BARS) and {spec.bars_across for spec in framed} == {False, True}
    frozen = next(s for s in fixed_camera_specs(sources, 6, seed=6, bars_share=1.0) if s.frozen)
    for spec in (*(next(s for s in framed if s.bars_across == across) for across in (False, True)), frozen):
        spec = dataclasses.replace(spec, frames=3, source_codec="", source_quality=0)
        plain = render_clip(dataclasses.replace(spec, bars=0.0))
        side = int(round((spec.height if spec.bars_across else spec.width) * spec.bars))
        for original, seen in zip(plain, render_clip(spec)):
            view = seen.transpose(1, 0, 2) if spec.bars_across else seen
            inside = original.transpose(1, 0, 2) if spec.bars_across else original
            assert not view[:, :side].any() and not view[:, -side:].any()
            assert np.array_equal(view[:, side:-side], inside[:, side:-side])


def test_percentiles_match_numpy() -> None:
    rng = np.random.default_rng(0)
    for shape in ((30, 40), (15, 20), (1, 1), (2, 3), (45, 80)):
        values = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(percentiles(values, (10, 90)), np.percentile(values, (10, 90)), rtol=0, atol=1e-6)
        np.testing.assert_allclose(percentiles(values, (10,)), [np.percentile(values, 10)], rtol=0, atol=1e-6)


def test_training_names_the_sources_this_machine_lacks(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from server.training import commands, quality_samples

    assert "tree.avi" in quality_samples.all_sources() or "tree.avi" in quality_samples.missing_sources()
    present = quality_samples.video_path
    monkeypatch.setattr(quality_samples, "video_path", lambda name: None if name == "tree.avi" else present(name))
    assert "tree.avi" not in quality_samples.all_sources() and "tree.avi" not in commands.split_sources()[0]
    assert "tree.avi" in quality_samples.missing_sources()
    commands.warn_missing_sources()
    warning = capsys.readouterr().err
    assert "training without" in warning and "tree.avi" in warning and "differ from the shipped" in warning


def test_debian_clips_are_found_installed_or_unpacked(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.training import footage

    clip = footage.DebianClip("some-package", str(tmp_path / "installed/clip.avi"), "a test clip")
    monkeypatch.setitem(footage.DEBIAN_CLIPS, "clip.avi", clip)
    monkeypatch.setenv(footage.FOOTAGE_DIR_VARIABLE, str(tmp_path / "unpacked"))
    assert footage.video_path("clip.avi") is None  # neither installed nor unpacked
    unpacked = tmp_path / "unpacked" / clip.path.lstrip("/")
    unpacked.parent.mkdir(parents=True)
    unpacked.write_bytes(b"")
    assert footage.video_path("clip.avi") == str(unpacked)
    (tmp_path / "installed").mkdir()
    (tmp_path / "installed/clip.avi").write_bytes(b"")
    assert footage.video_path("clip.avi") == clip.path  # the installed package first
    assert footage.video_path("no-such-clip.avi") is None
    assert set(footage.DEBIAN_VIDEOS) <= set(footage.DEBIAN_CLIPS) and set(footage.DEBIAN_VIDEOS) <= set(footage.VIDEOS)


def test_grain_clips_carry_heavy_camera_noise_and_leave_the_held_out_protocol_alone() -> None:
    sources = ["astronaut", "coffee"]
    assert make_specs(sources, 16, seed=6) == make_specs(sources, 16, seed=6, grain_share=0.0)
    grainy = [s for s in make_specs(sources, 40, seed=6, static_share=1.0, grain_share=0.5) if s.grain]
    assert 8 <= len(grainy) <= 32 and all(s.grain in GRAINS for s in grainy)
    spec = dataclasses.replace(grainy[0], frames=2, source_codec="", source_quality=0)
    first, second = (frame.astype(float) for frame in render_clip(spec))
    # A still camera: the frame-to-frame change is the two frames' noise, sqrt(2) times its spread
    # (where neither frame clips at black or white).
    inside = (np.minimum(first, second) > 30) & (np.maximum(first, second) < 225)
    spread = float(np.std((first - second)[inside])) / np.sqrt(2)
    assert 0.85 * spec.grain < spread < 1.15 * spec.grain
    frozen = [s for s in fixed_camera_specs(sources, 40, seed=6, grain_share=1.0) if s.frozen]
    assert frozen and not any(s.grain for s in frozen)


def _direct_chroma(frame_bgr: np.ndarray) -> np.ndarray:
    """CHROMA_FEATURES computed band by band with plain numpy: each band of two macroblock rows read
    is converted to I420 on its own, and no step or 3x3 window leaves its band."""
    rows, cols = frame_bgr.shape[0] // 16, frame_bgr.shape[1] // 16
    if rows >= 2:
        pairs = rows // 2
        every = -(-pairs // CHROMA_BANDS)
        bands = [frame_bgr[32 * p: 32 * p + 32, : cols * 16] for p in range(0, pairs, every)]
    else:
        bands = [frame_bgr[:16, : cols * 16]]
    planes = {"u": [], "v": []}
    for band in bands:
        i420 = cv2.cvtColor(np.ascontiguousarray(band), cv2.COLOR_BGR2YUV_I420)
        h, w = band.shape[0] // 2, band.shape[1] // 2
        chroma = i420[band.shape[0]:].reshape(2 * h, w)
        planes["u"].append(chroma[:h].astype(np.int64))
        planes["v"].append(chroma[h:].astype(np.int64))
    out = []
    for name in ("u", "v"):
        log_var8, flat4, h_steps, v_steps, h_pos, v_pos, noise = [], [], [], [], [], [], []
        for plane in planes[name]:
            h, w = plane.shape
            for size, sink in ((8, log_var8), (4, flat4)):
                tiles = plane.reshape(h // size, size, w // size, size).transpose(0, 2, 1, 3).reshape(-1, size * size)
                variance = tiles.var(axis=1)
                sink.extend(np.log1p(variance) if size == 8 else (variance < 1.0))
            across = np.abs(np.diff(plane, axis=1))
            down = np.abs(np.diff(plane, axis=0))
            h_steps.append(across.ravel()); v_steps.append(down.ravel())
            h_pos.append(np.broadcast_to(np.arange(w - 1) % 4 == 3, across.shape).ravel())
            v_pos.append(np.broadcast_to((np.arange(h - 1) % 4 == 3)[:, None], down.shape).ravel())
            padded = np.pad(plane, 1, mode="edge")
            second_x = padded[:, :-2] - 2 * padded[:, 1:-1] + padded[:, 2:]
            response = second_x[:-2] - 2 * second_x[1:-1] + second_x[2:]
            noise.append(np.clip(np.rint(np.abs(response) * 0.25), 0, 255)[1:-1].ravel())
        across, down = np.concatenate(h_steps), np.concatenate(v_steps)
        at_h, at_v = np.concatenate(h_pos), np.concatenate(v_pos)
        zero = ((across == 0).mean() + (down == 0).mean()) / 2
        small = ((across <= 1).mean() + (down <= 1).mean()) / 2
        edge = (across[at_h].mean() + down[at_v].mean()) / 2
        inner = (across[~at_h].mean() + down[~at_v].mean()) / 2
        out += [np.mean(log_var8), zero, small, np.log(np.concatenate(noise).mean() + 0.5),
                np.log((edge + 0.5) / (inner + 0.5)), np.mean(flat4)]
    return np.array(out)


@pytest.mark.parametrize("codec, bitrate, size", [
    ("vp8", 80_000, (640, 480)), ("h264", 300_000, (320, 240)), ("vp8", 2_000_000, (1280, 720)),
    ("h264", 1_000_000, (208, 144)), ("vp8", 200_000, (64, 16))])
def test_chroma_features_are_the_band_statistics_they_stand_for(
        astronaut: np.ndarray, codec: str, bitrate: int, size: tuple[int, int]) -> None:
    picture = cv2.resize(astronaut, size, interpolation=cv2.INTER_AREA)
    received = encode_decode([picture] * 2, EncoderSetup(codec, bitrate, ""))[-1]
    features = chroma_features(received.image)
    assert features.shape == (len(CHROMA_FEATURES),) and features.dtype == np.float32
    expected = _direct_chroma(received.image)
    flat4 = [CHROMA_FEATURES.index("u_flat4_share"), CHROMA_FEATURES.index("v_flat4_share")]
    others = [i for i in range(len(CHROMA_FEATURES)) if i not in flat4]
    np.testing.assert_allclose(features[others], expected[others], rtol=1e-4, atol=1e-5)
    # a 4x4 variance right at the threshold may fall either side in float32: a few blocks' worth
    np.testing.assert_allclose(features[flat4], expected[flat4], atol=0.01)


def test_the_i420_path_reads_the_same_bands_of_the_decoder_planes(astronaut: np.ndarray) -> None:
    picture = cv2.resize(astronaut, (640, 480), interpolation=cv2.INTER_AREA)
    # OpenCV's I420 of a BGR frame gives exactly the BGR path's figures
    i420 = cv2.cvtColor(picture, cv2.COLOR_BGR2YUV_I420)
    np.testing.assert_array_equal(chroma_features_i420(i420, 640, 480), chroma_features(picture))
    with pytest.raises(ValueError, match="I420"):
        chroma_features_i420(i420[:-1], 640, 480)
    with pytest.raises(ValueError, match="at least 16x16"):
        chroma_features(picture[:8])


def test_chroma_features_follow_the_quantiser(astronaut: np.ndarray) -> None:
    picture = cv2.resize(astronaut, (320, 240), interpolation=cv2.INTER_AREA)
    coarse, fine = (chroma_features(encode_decode([picture] * 2, EncoderSetup("h264", rate, ""))[-1].image)
                    for rate in (60_000, 3_000_000))
    for plane in ("u", "v"):
        zero = CHROMA_FEATURES.index(f"{plane}_zero_step_share")
        noise = CHROMA_FEATURES.index(f"{plane}_log_noise")
        assert coarse[zero] > fine[zero] and coarse[noise] < fine[noise], (plane, coarse, fine)
