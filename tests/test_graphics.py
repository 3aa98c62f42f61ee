"""The generated flat graphics training draws on: screens and animation, noiseless, with sprites."""

from __future__ import annotations

import dataclasses

import numpy as np

from server.imaging.features import BLOCK_FEATURES, block_features, frame_luma_u8
from server.training.footage import GRAPHICS
from server.training.graphics import CANVAS, Sprite, add_sprites, generated_graphics
from server.training.quality_samples import fixed_camera_specs, make_specs, render_clip


def test_generated_graphics_are_deterministic_varied_and_flat_in_places() -> None:
    first = generated_graphics(np.random.default_rng(3))
    assert first.shape == (CANVAS[1], CANVAS[0], 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, generated_graphics(np.random.default_rng(3)))
    assert not np.array_equal(first, generated_graphics(np.random.default_rng(4)))
    for seed in range(6):
        picture = generated_graphics(np.random.default_rng(seed))
        flat = block_features(frame_luma_u8(picture))[:, :, BLOCK_FEATURES.index("flat_share")]
        assert (flat == 1.0).mean() > 0.2  # flat colour where a camera would add noise
        assert (flat < 0.5).mean() > 0.01  # and edges: outlines, text


def test_a_sprite_moves_by_its_step_and_blends_only_where_it_covers() -> None:
    rng = np.random.default_rng(1)
    sprite = dataclasses.replace(Sprite.random(rng, 320, 240), start=(100, 80), step=(3, 2))
    ground = np.full((240, 320, 3), 90, np.uint8)
    first, later = sprite.draw(ground, 0), sprite.draw(ground, 5)
    side = sprite.alpha.shape[0]
    np.testing.assert_array_equal(first[80 : 80 + side, 100 : 100 + side], later[90 : 90 + side, 115 : 115 + side])
    outside = np.ones((240, 320), bool)
    outside[80 : 80 + side, 100 : 100 + side] = False
    assert (first[outside] == 90).all()
    np.testing.assert_array_equal(ground, np.full((240, 320, 3), 90, np.uint8))  # the input is untouched
    gone = dataclasses.replace(sprite, start=(400, 300))
    np.testing.assert_array_equal(gone.draw(ground, 0), ground)


def test_graphics_clips_are_noiseless_with_moving_sprites_and_leave_the_held_out_protocol_alone() -> None:
    sources = ["astronaut", "coffee"]
    assert make_specs(sources, 16, seed=6) == make_specs(sources, 16, seed=6, graphics_share=0.0)
    specs = make_specs(sources, 30, seed=6, graphics_share=0.5)
    graphics = [dataclasses.replace(s, frames=4) for s in specs if s.source == GRAPHICS]
    assert 5 <= len(graphics) <= 25
    for spec in graphics[:4]:
        frames = render_clip(spec)
        assert len(frames) == 4 and frames[0].shape == (spec.height, spec.width, 3)
        assert not np.array_equal(frames[0], frames[-1])  # a sprite moved, or the view scrolled
    fixed = fixed_camera_specs(sources, 40, seed=7, graphics_share=0.5)
    frozen = next(dataclasses.replace(s, frames=3) for s in fixed if s.source == GRAPHICS and s.frozen)
    frames = render_clip(frozen)
    assert all(np.array_equal(frames[0], frame) for frame in frames[1:])


def test_add_sprites_keeps_the_frames_it_was_given() -> None:
    frames = [np.full((120, 160, 3), 30, np.uint8)] * 3
    out = add_sprites(frames, np.random.default_rng(2))
    assert len(out) == 3 and all(f is not o for f, o in zip(frames, out))
    assert (frames[0] == 30).all()
