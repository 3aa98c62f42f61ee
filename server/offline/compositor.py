"""The offline compositor: run segment -> estimate -> match -> composite on every frame of a video file.

Each packet's size and keyframe flag are the bitrate signal, exactly as the server takes them from
RTP, and a VP8 or H.264 frame's quantizer corrects the estimate's level, as the server reads it.
Writes an H.264 MP4 (optionally the pristine-background composite beside the matched one) and a
JSON report with per-frame quality, chosen parameters and per-stage milliseconds.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import InputError
from ..imaging.compositing import composite
from ..imaging.quantizer import H264_DECODER_OPTIONS, frame_quantizer
from ..pipeline.frame_processor import ProcessorSettings, StreamProcessor
from .progress import ProgressBar


@dataclass(frozen=True)
class CompositeJob:
    """What to composite and where to write it."""

    input: Path
    background: Path
    output: Path
    statistic: str = "mean"
    side_by_side: bool = False
    report: Path | None = None
    method: str = "codec"


def read_background(path: Path) -> np.ndarray:
    """Read a background image, or raise InputError saying why it cannot be used."""
    if not path.is_file():
        raise InputError(f"background {path} does not exist or is not a file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InputError(f"background {path} is not an image OpenCV can read (JPEG, PNG, WebP, ...)")
    return image


def estimation_codec(codec_name: str) -> str:
    """The quality model's codec family for a stream codec (VP8, else the H.264 family)."""
    return "vp8" if codec_name in ("vp8", "libvpx") else "h264"


def run(job: CompositeJob) -> dict:
    """Composite ``job.input`` and return the report (also written to ``job.report`` if set)."""
    background = read_background(job.background)
    if not job.input.is_file():
        raise InputError(f"input {job.input} does not exist or is not a file")
    try:
        container = av.open(str(job.input))
    except av.FFmpegError as error:
        raise InputError(f"input {job.input} is not a video PyAV can read: {error}") from None
    with container:
        if not container.streams.video:
            raise InputError(f"input {job.input} has no video stream")
        stream = container.streams.video[0]
        codec = estimation_codec(stream.codec_context.name)
        settings = ProcessorSettings(statistic=job.statistic, method=job.method)
        processor = StreamProcessor(f"file:{job.background}", background, codec, settings)
        try:
            frames = _composite_stream(container, stream, processor, job)
        finally:
            processor.close()
    if not frames:
        raise InputError(f"input {job.input} has no decodable video frame")
    report = _report(job, codec, stream.codec_context.name, frames)
    if job.report:
        job.report.write_text(json.dumps(report, indent=1) + "\n")
    return report


def _composite_stream(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                      processor: StreamProcessor, job: CompositeJob) -> list[dict]:
    rate = stream.average_rate or stream.guessed_rate or Fraction(30, 1)
    writer = None
    records: list[dict] = []
    packets: dict[int | None, tuple[int, bool, float | None]] = {}
    """What each packet's frame takes from it: size, keyframe flag, and VP8's quantizer."""
    source_codec = stream.codec_context.name
    if source_codec == "h264":
        stream.codec_context.options = dict(H264_DECODER_OPTIONS)  # each frame's QP map: its quantizer
    progress = ProgressBar("compositing", stream.frames or None)
    last_timestamp = -1
    try:
        for packet in container.demux(stream):
            if packet.size:
                packets[packet.pts] = (packet.size, bool(packet.is_keyframe),
                                       frame_quantizer("vp8", data=bytes(packet)) if source_codec == "vp8" else None)
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                continue  # a corrupt packet: skip it, keep going with the next
            for frame in decoded:
                size, keyframe, quantizer = packets.pop(frame.pts, (packet.size, bool(packet.is_keyframe), None))
                if source_codec != "vp8":
                    quantizer = frame_quantizer(source_codec, frame=frame)
                image = frame.to_ndarray(format="bgr24")
                seconds = float(frame.time) if frame.time is not None else len(records) / float(rate)
                timestamp = max(last_timestamp + 1, int(round(seconds * 1000)))
                last_timestamp = timestamp
                result = processor.process(image, int(size), keyframe, timestamp, quantizer)
                output = result.image
                if job.side_by_side:
                    pristine = processor.pristine_background(image.shape[1], image.shape[0])
                    output = np.hstack([composite(image, pristine, result.mask), output])
                if writer is None:
                    writer = _open_writer(job.output, output.shape[1], output.shape[0], rate)
                _write(writer, output)
                records.append({
                    "index": len(records), "pts": frame.pts, "encoded_size": int(size), "keyframe": keyframe,
                    "quantizer": quantizer,
                    "quality": round(result.quality.value, 5), "level": result.level,
                    "params": result.params.as_dict(), "background_loss": round(result.background_loss, 5),
                    "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()},
                })
                progress.update(len(records))
    finally:
        progress.finish()
        if writer is not None:
            _close_writer(writer)
    return records


def _open_writer(path: Path, width: int, height: int, rate: Fraction):
    path.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height = width - width % 2, height - height % 2
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "veryfast", "crf": "20"}
    return container, stream


def _write(writer, image: np.ndarray) -> None:
    container, stream = writer
    even = np.ascontiguousarray(image[: stream.height, : stream.width])
    frame = av.VideoFrame.from_ndarray(cv2.cvtColor(even, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
    for packet in stream.encode(frame):
        container.mux(packet)


def _close_writer(writer) -> None:
    container, stream = writer
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()


def _report(job: CompositeJob, codec: str, stream_codec: str, frames: list[dict]) -> dict:
    stages = frames[0]["timings_ms"].keys()
    return {
        "input": str(job.input), "background": str(job.background), "output": str(job.output),
        "statistic": job.statistic, "stream_codec": stream_codec, "estimation_codec": codec,
        "side_by_side": job.side_by_side,
        "summary": {
            "frames": len(frames),
            "mean_quality": round(statistics.fmean(f["quality"] for f in frames), 5),
            "median_ms": {s: round(statistics.median(f["timings_ms"][s] for f in frames), 3) for s in stages},
        },
        "frames": frames,
    }
