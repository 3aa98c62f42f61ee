"""The quantizer read from the bitstream (VP8 frame headers, H.264 QP maps), the quantizer
calibration of the quality estimate, and the receiver's tap that hands the quantizer to the server."""

from __future__ import annotations

import fractions
import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
from av.sidedata.sidedata import Type as SideDataType
import pytest
from skimage import data

from server.imaging.quality import QualityTracker, estimate_quality, estimate_quality_i420
from server.imaging.quantizer import (
    H264_DECODER_OPTIONS, VP8_AC_STEPS, frame_quantizer, h264_mean_qp, log_step, vp8_quantizer_index,
)
from server.imaging.quantizer_calibration import (
    DEFAULT_CALIBRATION_PATH, INPUTS, QuantizerCalibration, load_calibration,
)
from server.training.encoding import EncoderSetup, encode_decode

LIBVPX_QUANTIZER_INDEX = {0: 0, 4: 4, 10: 12, 20: 25, 40: 59, 63: 127}
"""libvpx's VP8 encoder maps its 0-63 quantizer option to the bitstream's 0-127 index (its q_trans
table); a few of its entries."""


def _clip(width: int = 320, height: int = 240, frames: int = 6) -> list[np.ndarray]:
    picture = cv2.resize(data.astronaut()[:, :, ::-1], (width, height))
    return [np.roll(picture, 2 * index, axis=1).copy() for index in range(frames)]


def _encoded(codec: str, frames: list[np.ndarray], **settings: object) -> list[av.Packet]:
    height, width = frames[0].shape[:2]
    encoder = av.CodecContext.create("libvpx" if codec == "vp8" else "libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    for name, value in settings.items():
        setattr(encoder, name, value)
    packets = []
    for index, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = index
        packets += encoder.encode(frame)
    return packets + list(encoder.encode(None))


@pytest.mark.parametrize("option, index", sorted(LIBVPX_QUANTIZER_INDEX.items()))
def test_vp8_header_gives_the_quantizer_index_the_encoder_was_held_to(option: int, index: int) -> None:
    packets = _encoded("vp8", _clip(), bit_rate=500_000, qmin=option, qmax=option)
    assert packets[0].is_keyframe and not packets[1].is_keyframe
    assert [vp8_quantizer_index(bytes(packet)) for packet in packets] == [index] * len(packets)


def test_h264_qp_map_gives_the_constant_qp_of_inter_frames() -> None:
    packets = _encoded("h264", _clip(), options={"qp": "30", "tune": "zerolatency"})
    decoder = av.CodecContext.create("h264", "r")
    decoder.options = dict(H264_DECODER_OPTIONS)
    qps = [(packet.is_keyframe, h264_mean_qp(frame)) for packet in packets for frame in decoder.decode(packet)]
    assert len(qps) == 6
    assert all(qp == 30.0 for keyframe, qp in qps if not keyframe)
    assert all(qp is not None and qp < 30.0 for keyframe, qp in qps if keyframe)  # x264's I-frame offset


def test_h264_frames_decoded_without_the_option_carry_no_qp() -> None:
    decoder = av.CodecContext.create("h264", "r")
    frames = [frame for packet in _encoded("h264", _clip()) for frame in decoder.decode(packet)]
    assert frames and all(h264_mean_qp(frame) is None for frame in frames)


def test_training_encodes_carry_each_frames_quantizer() -> None:
    for codec in ("vp8", "h264"):
        coded = encode_decode(_clip(), EncoderSetup(codec, 200_000, "-6" if codec == "vp8" else "veryfast",
                                                    cbr=True, denoise=True))
        assert all(frame.quantizer is not None for frame in coded), codec
        top = 127 if codec == "vp8" else 51
        assert all(0 <= frame.quantizer <= top for frame in coded)


@pytest.mark.parametrize("frame, message", [
    (b"", "too short"), (b"\x00\x00", "too short"),
    (b"\x10\x02\x00" + b"\x00" * 12, "start code"),  # a keyframe tag without 9d 01 2a
    (b"\x11\x02\x00" + b"\x00", "first partition"),  # an inter frame cut after one byte of its header
])
def test_vp8_header_refuses_what_is_not_a_frame(frame: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vp8_quantizer_index(frame)


def test_log_step_follows_each_codecs_step_table() -> None:
    assert log_step("vp8", 0) == pytest.approx(np.log(VP8_AC_STEPS[0]))
    assert log_step("vp8", 127) == pytest.approx(np.log(284))
    assert log_step("vp8", 500) == log_step("vp8", 127)  # clipped to the codec's range
    assert log_step("h264", 28) - log_step("h264", 22) == pytest.approx(np.log(2))  # 6 QP double the step
    steps = [log_step("vp8", index) for index in range(128)]
    assert steps == sorted(steps)
    with pytest.raises(ValueError, match="unknown codec"):
        log_step("vp9", 10)
    with pytest.raises(ValueError, match="finite"):
        log_step("h264", float("nan"))


def test_the_shipped_calibration_loads_and_names_its_quality_model() -> None:
    calibration = load_calibration()
    assert calibration.trees.inputs == len(INPUTS)
    assert calibration.record["quality_model"]["path"] == "quality_model.json"
    assert DEFAULT_CALIBRATION_PATH.stat().st_size < 1_000_000


def test_calibration_files_are_checked() -> None:
    document = json.loads(DEFAULT_CALIBRATION_PATH.read_text())
    assert QuantizerCalibration.from_json(document).to_json()["trees"] == document["trees"]
    with pytest.raises(ValueError, match="not a quantizer calibration"):
        QuantizerCalibration.from_json({**document, "format": "backdrop-quality/7"})
    with pytest.raises(ValueError, match="other inputs"):
        QuantizerCalibration.from_json({**document, "inputs": ["log_bpp"]})
    with pytest.raises(ValueError, match="malformed tree ensemble"):
        QuantizerCalibration.from_json({**document, "trees": {"depth": 2}})


def test_the_quantizer_scales_the_matrix_and_a_coarser_one_means_more_loss() -> None:
    coded = encode_decode(_clip(640, 480, 4), EncoderSetup("h264", 500_000, "veryfast", cbr=True, denoise=True))
    frame = coded[-1]
    plain = estimate_quality(frame.image, frame.size, frame.keyframe, "h264")
    fine = estimate_quality(frame.image, frame.size, frame.keyframe, "h264", quantizer=20)
    coarse = estimate_quality(frame.image, frame.size, frame.keyframe, "h264", quantizer=45)
    assert coarse.value > fine.value
    lossy = plain.matrix > 1e-6
    assert lossy.mean() > 0.5
    for corrected in (fine, coarse):  # one factor for every block: their ranking is the estimate's
        ratio = corrected.matrix[lossy] / plain.matrix[lossy]
        assert np.allclose(ratio, ratio[0], rtol=1e-4)
        assert np.all(corrected.matrix[~lossy] <= 1e-5)
    median = estimate_quality(frame.image, frame.size, frame.keyframe, "h264", statistic="median", quantizer=45)
    assert median.value == pytest.approx(float(np.median(coarse.matrix)), rel=1e-5)
    i420 = cv2.cvtColor(frame.image, cv2.COLOR_BGR2YUV_I420)
    assert estimate_quality_i420(i420, 640, 480, frame.size, frame.keyframe, "h264", quantizer=45).value > \
        estimate_quality_i420(i420, 640, 480, frame.size, frame.keyframe, "h264", quantizer=20).value


def test_the_tracker_passes_the_quantizer_on() -> None:
    coded = encode_decode(_clip(320, 240, 3), EncoderSetup("vp8", 300_000, "-6", cbr=True, denoise=True))
    plain, corrected = QualityTracker("vp8"), QualityTracker("vp8")
    for frame in coded:
        plain.update(frame.image, frame.size, frame.keyframe)
        corrected.update(frame.image, frame.size, frame.keyframe, quantizer=frame.quantizer)
    assert corrected.frame_estimate.value != plain.frame_estimate.value
    expected = estimate_quality(coded[-1].image, coded[-1].size, coded[-1].keyframe, "vp8",
                                quantizer=coded[-1].quantizer)
    assert corrected.frame_estimate.value == pytest.approx(expected.value)


@pytest.mark.parametrize("quantizer", ["30", -1, float("nan"), float("inf"), True])
def test_a_bad_quantizer_is_refused(quantizer: object) -> None:
    frame = _clip(64, 48, 1)[0]
    with pytest.raises(ValueError, match="quantizer must be"):
        estimate_quality(frame, 1000, True, "vp8", quantizer=quantizer)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quantizer must be"):
        QualityTracker("vp8").update(frame, 1000, True, quantizer=quantizer)  # type: ignore[arg-type]


def test_the_receivers_tap_reads_the_quantizer_of_aiortcs_own_streams() -> None:
    from aiortc.codecs import get_decoder, get_encoder
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from server.rtc.aiortc_patches import EncodedInfo, TappingDecoder

    for name in ("VP8", "H264"):
        codec = RTCRtpCodecParameters(mimeType=f"video/{name}", clockRate=90000)
        encoder, decoder = get_encoder(codec), TappingDecoder(get_decoder(codec), name.lower())
        infos = []
        for index, image in enumerate(_clip(320, 240, 4)):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index * 3000, fractions.Fraction(1, 90000)
            payloads, timestamp = encoder.encode(frame, force_keyframe=index == 0)
            whole = _depacketize(name, payloads)
            infos += [decoded.opaque for decoded in decoder.decode(JitterFrame(data=whole, timestamp=timestamp))]
        assert infos and all(isinstance(info, EncodedInfo) for info in infos), name
        assert all(info.quantizer is not None and info.quantizer >= 0 for info in infos), name


def _depacketize(name: str, payloads: list[bytes]) -> bytes:
    from aiortc.codecs import depayload
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    codec = RTCRtpCodecParameters(mimeType=f"video/{name}", clockRate=90000)
    return b"".join(depayload(codec, payload) for payload in payloads)


@pytest.mark.slow
def test_train_quantizer_writes_a_loadable_calibration_and_its_record(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    done = subprocess.run([sys.executable, "-m", "server", "train", "quantizer", "--clips", "24", "--fixed-clips", "8",
                           "--held-out-clips", "4", "--seed", "3", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "quantizer: training clips: 32/32" in done.stderr  # progress
    calibration = QuantizerCalibration.load(out)
    record = json.loads((tmp_path / "calibration_training.json").read_text())
    assert record["seed"] == 3 and record["training_clips"] == 24 and record["training_frames"] > 80
    assert record["quality_model"]["path"] == "quality_model.json"
    assert record["fit"]["inputs"] == list(INPUTS) and calibration.record["held_out"] == record["held_out"]
    held = record["held_out"]
    assert held["clips"] == 4 + 2 and -1 <= held["calibrated_spearman"] <= 1 and -1 <= held["estimate_spearman"] <= 1
    assert "astronaut" in record["held_out_sources"] and "astronaut" not in record["training_sources"]


def test_what_cannot_be_read_leaves_the_frame_without_a_quantizer() -> None:
    class BrokenEncodingParameters:
        def qp_map(self) -> np.ndarray:
            raise ValueError("unsupported encoding parameters")

    class Frame:
        side_data = {SideDataType.VIDEO_ENC_PARAMS: BrokenEncodingParameters()}

    assert frame_quantizer("h264", frame=Frame()) is None
    assert frame_quantizer("vp8", data=b"\x10\x02") is None  # a truncated header
    assert frame_quantizer("vp9", data=b"\x00" * 20) is None  # no reader for that codec
    packet = _encoded("vp8", _clip(frames=1), bit_rate=500_000, qmin=10, qmax=10)[0]
    assert frame_quantizer("vp8", data=bytes(packet)) == 12.0


def test_a_frame_with_its_quantizer_is_not_smoothed_by_default() -> None:
    coded = encode_decode(_clip(320, 240, 2), EncoderSetup("h264", 300_000, "veryfast", cbr=True, denoise=True))
    tracked = {}
    for name, settings in (("default", {}), ("smoothed", {"quantizer_smoothing": 0.3})):
        # The kept blocks setting the whole level (exponent 0), so that only the smoothing differs.
        tracker = QualityTracker("h264", unchanged_level_exponent=0.0, **settings)
        for frame in coded:
            tracker.update(frame.image, frame.size, frame.keyframe, quantizer=frame.quantizer)
        tracked[name] = (tracker.latest.matrix, tracker.frame_estimate.matrix)
    latest, own = tracked["default"]
    changed = ~np.isclose(latest, tracked["smoothed"][0])  # the blocks the smoothing reaches: not unchanged ones
    assert changed.mean() > 0.5
    assert np.allclose(latest[changed], own[changed])  # taken as the frame estimates them
    with pytest.raises(ValueError, match="quantizer_smoothing must be in"):
        QualityTracker("h264", quantizer_smoothing=0.0)
