"""Training senders: real-time and file-style encodes come back one picture per frame, in display order."""

from __future__ import annotations

import dataclasses

import av
import cv2
import numpy as np
import pytest

from server.imaging.metrics import ssim_loss
from server.training.encoding import EncoderSetup, _encoder, encode_decode
from server.training.footage import PACKAGE_STILLS, Motion, is_still, load_still, package_file, render_still_clip
from server.training.quality_samples import all_sources, make_specs


def _moving_clip(astronaut: np.ndarray, frames: int = 24) -> list[np.ndarray]:
    motion = Motion(crop=0.5, pan_x=0.004, pan_y=0.0, zoom=0.0, noise=0.0, flip=False, gain=1.0, bias=0.0)
    return render_still_clip(astronaut, 320, 240, frames, motion, np.random.default_rng(0))


@pytest.mark.parametrize("setup", [
    EncoderSetup("h264", 400_000, "medium", realtime=False, gop=12),
    EncoderSetup("h264", 400_000, "", realtime=False),
    EncoderSetup("vp8", 400_000, "2", cbr=False, denoise=False, realtime=False, gop=12),
    EncoderSetup("vp8", 400_000, "-6"),
], ids=["x264-medium-gop12", "x264-defaults", "vp8-good-gop12", "vp8-realtime"])
def test_every_frame_comes_back_as_its_own_picture(astronaut: np.ndarray, setup: EncoderSetup) -> None:
    clip = _moving_clip(astronaut)
    coded = encode_decode(clip, setup)
    assert len(coded) == len(clip)
    for index, frame in enumerate(coded):
        assert frame.size > 0, f"frame {index} was dropped"
        # The picture is this frame's, not a neighbour's: the pan moves about 2.5 px per frame.
        own = ssim_loss(clip[index], frame.image)
        neighbours = [ssim_loss(clip[j], frame.image) for j in (index - 1, index + 1) if 0 <= j < len(clip)]
        assert own < min(neighbours), (index, own, neighbours)
    keyframes = [index for index, frame in enumerate(coded) if frame.keyframe]
    assert keyframes[0] == 0
    if not setup.realtime and setup.gop == 12:
        assert 12 in keyframes
    if setup.realtime:
        assert keyframes == [0]


def test_x264_file_senders_send_small_b_frames(astronaut: np.ndarray) -> None:
    coded = encode_decode(_moving_clip(astronaut), EncoderSetup("h264", 400_000, "medium", realtime=False))
    inter = sorted(frame.size for frame in coded[1:])
    # B-frames (most inter frames at the medium preset) cost a fraction of the P-frames that anchor them.
    assert inter[len(inter) // 2] < 0.5 * inter[-1]


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_pyav_input_conversion_encodes_what_pyav_converts(astronaut: np.ndarray, codec: str) -> None:
    """``input_conversion="pyav"`` encodes the frame as a tester's own PyAV code would: handed over as
    bgr24 and converted by swscale, not by OpenCV."""
    image = cv2.resize(astronaut, (320, 240), interpolation=cv2.INTER_AREA)
    setup = EncoderSetup(codec, 1_000_000, "-6" if codec == "vp8" else "veryfast", input_conversion="pyav")
    encoder = _encoder(setup, 320, 240)
    decoder = av.CodecContext.create(codec, "r")
    frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    frame.pts = 0
    packets = list(encoder.encode(frame)) + list(encoder.encode(None))
    expected = [picture.to_ndarray(format="bgr24") for packet in packets for picture in decoder.decode(packet)]
    expected += [picture.to_ndarray(format="bgr24") for picture in decoder.decode(None)]
    received = encode_decode([image], setup)[0]
    assert received.keyframe and received.size == sum(packet.size for packet in packets)
    np.testing.assert_array_equal(received.image, expected[0])
    opencv = encode_decode([image], dataclasses.replace(setup, input_conversion="opencv"))[0].image
    assert not np.array_equal(opencv, expected[0])
    assert ssim_loss(image, opencv) < 0.05 and ssim_loss(image, received.image) < 0.05


def test_an_unknown_input_conversion_is_refused() -> None:
    with pytest.raises(ValueError, match="input_conversion must be one of opencv, pyav"):
        EncoderSetup("vp8", 400_000, "-6", input_conversion="ffmpeg")


def test_file_share_draws_file_style_senders_and_leaves_the_held_out_protocol_alone() -> None:
    sources = ["astronaut", "coffee"]
    plain = make_specs(sources, 16, seed=4)
    assert all(spec.setup.realtime for spec in plain)
    assert plain == make_specs(sources, 16, seed=4, file_share=0.0)
    files = make_specs(sources, 16, seed=4, file_share=1.0)
    assert not any(spec.setup.realtime for spec in files)
    assert {spec.setup.codec for spec in files} == {"vp8", "h264"}
    assert len({spec.setup.gop for spec in files}) > 1


def test_photographs_bundled_with_other_packages_are_training_sources() -> None:
    for name, (package, path) in PACKAGE_STILLS.items():
        assert package_file(package, path), f"{package} does not ship {path}"
        image = load_still(name)
        assert image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 300
        assert name in all_sources()


def test_every_training_still_renders_as_a_compression_image() -> None:
    """Both training commands draw from ``split_sources``: each still must render as a compression-model
    image too (a bundled photograph once fell through to its video reader)."""
    from server.training.commands import split_sources
    from server.training.compression_samples import ImageSpec, render_image

    train_sources, _ = split_sources()
    for index, source in enumerate(s for s in train_sources if is_still(s)):
        image = render_image(ImageSpec(source, 320, 240, seed=index))
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8, source
