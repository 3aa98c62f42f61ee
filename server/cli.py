"""The ``backdrop`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from .errors import BackdropError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="backdrop", description="Backdrop: quality-matched virtual backgrounds.")
    commands = parser.add_subparsers(dest="command", required=True)

    comp = commands.add_parser("composite", help="run the per-frame pipeline on a video file")
    comp.add_argument("input", help="a video file PyAV can read, or 'sample' for the built-in footage")
    comp.add_argument("--background", type=Path, help="background image (default: the built-in studio backdrop)")
    comp.add_argument("-o", "--output", type=Path, required=True, help="output video (MP4, H.264)")
    comp.add_argument("--statistic", default="mean", help="mean, median, max or a percentile such as p90")
    comp.add_argument("--method", default="codec",
                      help="background degradation: codec (the input's own), jpeg, webp, vp8, h264, blur, downscale")
    comp.add_argument("--side-by-side", action="store_true", help="pristine-background composite beside the matched one")
    comp.add_argument("--report", type=Path, help="write a JSON report here")
    comp.set_defaults(handler=_composite)

    serve = commands.add_parser("serve", help="run the real-time server")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--data-dir", type=Path, default=Path("./data"), help="data directory (default ./data)")
    serve.add_argument("--workers", type=int, help="pipeline worker processes (default: two per core, at most 8)")
    serve.add_argument("--statistic", default="mean", help="default quality statistic: mean, median, max, pNN")
    serve.add_argument("--degradation", default="codec",
                       help="background degradation: codec, jpeg, webp, vp8, h264, blur, downscale")
    serve.add_argument("--loopback-candidates", choices=("auto", "yes", "no"), default="auto",
                       help="offer 127.0.0.1 ICE candidates (auto: when the host is loopback)")
    serve.add_argument("--admin-token", help="admin API bearer token (default: BACKDROP_ADMIN_TOKEN, else one "
                       "generated on first start and kept in the data directory)")
    serve.set_defaults(handler=_serve)

    token = commands.add_parser("token", help="print a signed join token (needs BACKDROP_JOIN_SECRET or --secret)")
    token.add_argument("--room", required=True, help="the room the token admits to")
    token.add_argument("--identity", required=True, help="the participant's identity (their default name)")
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 2d (default 1h)")
    token.add_argument("--secret", help="signing secret (default: BACKDROP_JOIN_SECRET)")
    token.set_defaults(handler=_token)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .imaging.degradation import MATCH_METHODS
    from .imaging.quality import check_statistic
    from .settings import Settings
    from .web.app import create_app

    try:
        check_statistic(args.statistic)
    except ValueError as error:
        raise BackdropError(str(error)) from None
    if args.degradation != "codec" and args.degradation not in MATCH_METHODS:
        raise BackdropError(f"unknown degradation {args.degradation!r}")
    loopback = {"auto": None, "yes": True, "no": False}[args.loopback_candidates]
    overrides: dict[str, object] = {} if args.workers is None else {"workers": args.workers}
    if args.admin_token:
        overrides["admin_token"] = args.admin_token
    settings = Settings(host=args.host, port=args.port, data_dir=args.data_dir, statistic=args.statistic,
                        degradation=args.degradation, loopback_candidates=loopback, **overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    print(f"Backdrop serving on http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    web.run_app(create_app(settings), host=args.host, port=args.port, print=None, shutdown_timeout=5.0)
    return 0


def _token(args: argparse.Namespace) -> int:
    import os

    from .rtc.rooms import ROOM_NAME_RULE, is_room_name
    from .web.join_tokens import issue_join_token, parse_duration

    secret = args.secret or os.environ.get("BACKDROP_JOIN_SECRET")
    if not secret:
        raise BackdropError("set BACKDROP_JOIN_SECRET (the server's join secret) or pass --secret")
    if not is_room_name(args.room):
        raise BackdropError(ROOM_NAME_RULE)
    if not args.identity.strip():
        raise BackdropError("the identity must not be empty")
    try:
        ttl = parse_duration(args.ttl)
    except ValueError as error:
        raise BackdropError(str(error)) from None
    print(issue_join_token(secret, args.room, args.identity.strip(), ttl))
    return 0


def _composite(args: argparse.Namespace) -> int:
    from .imaging.default_background import studio_background
    from .imaging.quality import check_statistic
    from .offline.compositor import CompositeJob, run
    from .offline.samples import SAMPLE_NAME, sample_footage

    try:
        check_statistic(args.statistic)
    except ValueError as error:
        raise BackdropError(str(error)) from None
    with tempfile.TemporaryDirectory(prefix="backdrop-") as scratch:
        input_path = sample_footage(Path(scratch)) if args.input == SAMPLE_NAME else Path(args.input)
        background = args.background
        if background is None:
            import cv2

            background = Path(scratch) / "studio.png"
            cv2.imwrite(str(background), studio_background())
        job = CompositeJob(input=input_path, background=background, output=args.output, statistic=args.statistic,
                           side_by_side=args.side_by_side, report=args.report, method=args.method)
        report = run(job)
    summary = report["summary"]
    print(f"wrote {args.output}: {summary['frames']} frames, mean quality (1 - SSIM) {summary['mean_quality']:.4f}, "
          f"median ms per stage {summary['median_ms']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (BackdropError, ValueError) as error:
        print(f"backdrop: error: {error}", file=sys.stderr)
        return 2
