"""The ``backdrop`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from .errors import BackdropError
from .log import configure_logging
from .training.recipe import (
    BARS_SHARE, COMPRESSED_SOURCE_SHARE, COMPRESSION_SEED, FILE_SHARE, FIXED_CLIPS, GRAIN_SHARE, GRAPHICS_SHARE,
    BLOCK_NETWORKS, HEAD_TREES, QUALITY_SEED, TREE_LEARNING_RATE, VIDEO_SOURCE_SHARE,
)

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="backdrop", description="Backdrop: quality-matched virtual backgrounds.")
    commands = parser.add_subparsers(dest="command", required=True)

    comp = commands.add_parser("composite", help="run the per-frame pipeline on a video file")
    comp.add_argument("input", help="a video file PyAV can read, or 'sample' for the built-in footage")
    comp.add_argument("--background", type=Path, help="background image (default: the built-in studio backdrop)")
    comp.add_argument("-o", "--output", type=Path, required=True, help="output video (MP4, H.264)")
    comp.add_argument("--statistic", default="mean",
                      help="mean, median, max or a percentile such as p90; person-mean, person-p90... reduce the "
                           "blocks the person covers only")
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
    serve.add_argument("--statistic", default="mean",
                       help="default quality statistic: mean, median, max, pNN, or one of them over the person only "
                            "(person-mean...)")
    serve.add_argument("--degradation", default="codec",
                       help="background degradation: codec, jpeg, webp, vp8, h264, blur, downscale")
    serve.add_argument("--loopback-candidates", choices=("auto", "yes", "no"), default="auto",
                       help="offer 127.0.0.1 ICE candidates (auto: when the host is loopback)")
    serve.add_argument("--log-format", choices=("text", "json"), default="text",
                       help="text lines, or one JSON object per line")
    serve.add_argument("--admin-token", help="admin API bearer token (default: BACKDROP_ADMIN_TOKEN, else one "
                       "generated on first start and kept in the data directory)")
    serve.add_argument("--ice-server", action="append", dest="ice_servers", metavar="URL",
                       help="a STUN or TURN server for clients, e.g. turn:turn.example.com:3478?transport=udp "
                       "(repeatable; default: BACKDROP_ICE_SERVERS, space-separated)")
    serve.add_argument("--turn-secret", help="the TURN server's shared secret (coturn static-auth-secret); "
                       "default: BACKDROP_TURN_SECRET")
    serve.add_argument("--public-address", action="append", dest="public_addresses", metavar="IP",
                       help="the public IP a one-to-one NAT maps to this machine port for port (cloud VM, "
                       "Docker bridge): announced in the server's ICE candidates in place of the interface's "
                       "(one IPv4 and/or one IPv6; default: BACKDROP_PUBLIC_ADDRESS, space-separated)")
    serve.add_argument("--ice-ports", metavar="MIN-MAX",
                       help="UDP port range of the server's media sockets, to open in a firewall or publish "
                       "from a container, e.g. 40000-40199 (default: BACKDROP_ICE_PORTS, else any port)")
    serve.add_argument("--max-participants", metavar="N",
                       help="participants this node takes in all rooms together; beyond it joins are refused "
                       "(server_full), or in a cluster new rooms go to a node with room to spare "
                       "(default: BACKDROP_MAX_PARTICIPANTS, else 0: no limit)")
    serve.add_argument("--redis-url", help="join a cluster: the Redis its nodes share (default: BACKDROP_REDIS_URL; "
                       "none: a single node). Each room lives on one node; the others send its clients there")
    serve.add_argument("--node-url", help="with --redis-url: this node's base URL as clients reach it, e.g. "
                       "https://node-a.example.com (default: BACKDROP_NODE_URL)")
    serve.set_defaults(handler=_serve)

    load = commands.add_parser("loadtest", help="drive a running server with synthetic participants")
    load.add_argument("--url", required=True, action="append",
                      help="the server, e.g. http://127.0.0.1:8080 (nothing else is contacted); repeat it to enter "
                      "a cluster through several nodes in turn (and the nodes they send participants to)")
    load.add_argument("--rooms", type=int, default=1, help="rooms (participants are spread over them)")
    load.add_argument("--participants", type=int, default=2, help="participants in total")
    load.add_argument("--duration", type=float, default=30.0, help="seconds to run (then it stops by itself)")
    load.add_argument("--resolution", default="640x480", help="WIDTHxHEIGHT, at least 640x480")
    load.add_argument("--fps", type=int, default=30)
    load.add_argument("--bitrate", default="300k", help="per participant, e.g. 300k or 1.2M")
    load.add_argument("--footage", help="a video of a person (default: a talking-head sample)")
    load.add_argument("--json", type=Path, help="write the JSON summary here")
    load.add_argument("--plots", type=Path, help="write PNG plots into this directory")
    load.add_argument("--relay-only", action="store_true",
                      help="connect only through the TURN servers the server hands out (tests a TURN deployment)")
    load.set_defaults(handler=_loadtest)

    token = commands.add_parser("token", help="print a signed join token (needs BACKDROP_JOIN_SECRET or --secret)")
    token.add_argument("--room", required=True, help="the room the token admits to")
    token.add_argument("--identity", required=True, help="the participant's identity (their default name)")
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 2d (default 1h)")
    token.add_argument("--secret", help="signing secret (default: BACKDROP_JOIN_SECRET)")
    token.set_defaults(handler=_token)

    train = commands.add_parser("train", help="build samples offline and train a model")
    models = train.add_subparsers(dest="model", required=True)
    quality = models.add_parser("quality", help="the image quality evaluation model (used by estimate_quality)")
    quality.add_argument("--clips", type=int, default=2800, help="training clips with a moving camera")
    quality.add_argument("--frames", type=int, default=20, help="frames per clip (every 4th is labelled)")
    quality.add_argument("--static-share", type=float, default=0.0,
                         help="share of the moving-camera clips' stills held still instead")
    quality.add_argument("--fixed-clips", type=int, default=FIXED_CLIPS,
                         help="extra clips of stills seen by a fixed camera (half with the camera's noise, half "
                              "the same picture every frame)")
    quality.add_argument("--file-share", type=float, default=FILE_SHARE,
                         help="share of clips from file-style senders (B-frames, look-ahead, periodic keyframes)")
    quality.add_argument("--compressed-source-share", type=float, default=COMPRESSED_SOURCE_SHARE,
                         help="share of clips whose source frames went through JPEG or WebP first (MJPEG webcams)")
    quality.add_argument("--graphics-share", type=float, default=GRAPHICS_SHARE,
                         help="share of clips showing generated screens and animation (noiseless, flat colours)")
    quality.add_argument("--grain-share", type=float, default=GRAIN_SHARE,
                         help="share of clips with heavy camera noise (standard deviation 3-6 grey levels)")
    quality.add_argument("--video-source-share", type=float, default=VIDEO_SOURCE_SHARE,
                         help="share of clips whose source went through a video encoder first, at its own size "
                              "(a camera's or a recording's)")
    quality.add_argument("--bars-share", type=float, default=BARS_SHARE,
                         help="share of clips with black bars (letterbox or pillarbox)")
    quality.add_argument("--networks", type=int, default=BLOCK_NETWORKS,
                         help="block networks in the ensemble (each from its own seed)")
    quality.add_argument("--head-trees", type=int, default=HEAD_TREES,
                         help="gradient-boosted trees in the frame head, averaged with its networks (0: none)")
    quality.add_argument("--tree-learning-rate", type=float, default=TREE_LEARNING_RATE,
                         help="the frame head trees' learning rate (each tree's step; fewer trees need more)")
    quality.add_argument("--held-out-clips", type=int, default=150)
    quality.add_argument("--out", type=Path, help="model file (default: the shipped one)")
    quantizer = models.add_parser("quantizer", help="the quantizer calibration of the quality model's estimate "
                                                   "(fit after train quality)")
    quantizer.add_argument("--clips", type=int, default=1000, help="training clips with a moving camera")
    quantizer.add_argument("--fixed-clips", type=int, default=500, help="training clips of stills seen by a fixed camera")
    quantizer.add_argument("--held-out-clips", type=int, default=120)
    quantizer.add_argument("--quality-model", type=Path, help="the quality model to calibrate (default: the shipped one)")
    quantizer.add_argument("--out", type=Path, help="calibration file (default: the shipped one)")
    compression = models.add_parser("compression", help="the compression-parameter estimation model")
    compression.add_argument("--images", type=int, default=500, help="augmented training images")
    compression.add_argument("--held-out-images", type=int, default=40)
    compression.add_argument("--per-method", type=int, default=10, help="parameters measured per method and image")
    compression.add_argument("--out", type=Path, help="model file (default: the shipped one)")
    for command, seed in ((quality, QUALITY_SEED), (quantizer, QUALITY_SEED), (compression, COMPRESSION_SEED)):
        command.add_argument("--seed", type=int, default=seed,
                             help="everything is deterministic in it, but for x264's file-style encodes (README)")
        command.add_argument("--workers", type=int, default=2, help="processes building samples")
        command.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="score the shipped models on held-out content")
    evaluate.add_argument("--report", type=Path, help="write evaluation.json and PNG plots into this directory")
    evaluate.add_argument("--clips", type=int, default=60, help="held-out clips (quality model)")
    evaluate.add_argument("--frames", type=int, default=20, help="frames per held-out clip, every one scored")
    evaluate.add_argument("--senders", choices=("realtime", "file", "both"), default="both",
                          help="held-out clips from real-time senders, file-style ones (each --clips), or both")
    evaluate.add_argument("--cameras", choices=("moving", "fixed", "all"), default="all",
                          help="per sender family, --clips clips with a moving camera, --clips of stills with a "
                               "fixed camera (half with the camera's noise, half the same picture every frame), "
                               "or both")
    evaluate.add_argument("--images", type=int, default=24, help="held-out images (compression model)")
    evaluate.add_argument("--seed", type=int, default=99)
    evaluate.add_argument("--workers", type=int, default=2)
    evaluate.add_argument("--quality-model", type=Path, help="default: the shipped one")
    evaluate.add_argument("--compression-model", type=Path, help="default: the shipped one")
    evaluate.add_argument("--quantizer-calibration", type=Path,
                          help="the quality model's quantizer calibration (default: the shipped one)")
    evaluate.set_defaults(handler=_evaluate)
    return parser


def _train(args: argparse.Namespace) -> int:
    import json

    from .training import commands

    if args.model == "quality":
        out = args.out or commands.QUALITY_MODEL_PATH
        record = commands.train_quality(args.clips, args.held_out_clips, args.seed, args.workers, out,
                                        frames=args.frames, static_share=args.static_share,
                                        file_share=args.file_share, networks=args.networks,
                                        fixed_clips=args.fixed_clips,
                                        compressed_source_share=args.compressed_source_share,
                                        graphics_share=args.graphics_share, grain_share=args.grain_share,
                                        video_source_share=args.video_source_share,
                                        bars_share=args.bars_share, head_trees=args.head_trees,
                                        tree_learning_rate=args.tree_learning_rate)
    elif args.model == "quantizer":
        out = args.out or commands.QUANTIZER_CALIBRATION_PATH
        record = commands.train_quantizer(args.clips, args.fixed_clips, args.held_out_clips, args.seed, args.workers,
                                          args.quality_model or commands.QUALITY_MODEL_PATH, out)
    else:
        out = args.out or commands.COMPRESSION_MODEL_PATH
        record = commands.train_compression(args.images, args.held_out_images, args.per_method, args.seed,
                                            args.workers, out)
    print(json.dumps(record["held_out"], indent=2))
    print(f"wrote {out} ({out.stat().st_size} bytes) and {record['record_path']} in {record['seconds']:.0f} s")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .training import commands

    result = commands.evaluate_models(args.clips, args.images, args.seed, args.workers, args.report,
                                      args.quality_model or commands.QUALITY_MODEL_PATH,
                                      args.compression_model or commands.COMPRESSION_MODEL_PATH, args.frames,
                                      args.senders, args.cameras,
                                      args.quantizer_calibration or commands.QUANTIZER_CALIBRATION_PATH)
    print(commands.format_evaluation(result))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .imaging.degradation import MATCH_METHODS
    from .imaging.quality import check_statistic
    from .rtc.nat import parse_port_range
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
    if args.ice_servers:
        overrides["ice_servers"] = tuple(args.ice_servers)
    if args.turn_secret:
        overrides["turn_secret"] = args.turn_secret
    if args.public_addresses:
        overrides["public_addresses"] = tuple(args.public_addresses)
    if args.redis_url:
        overrides["redis_url"] = args.redis_url
    if args.node_url:
        overrides["node_url"] = args.node_url
    max_participants = args.max_participants or os.environ.get("BACKDROP_MAX_PARTICIPANTS")
    if max_participants:
        if not max_participants.isdigit():
            raise BackdropError(f"--max-participants must be a whole number >= 0, got {max_participants!r}")
        overrides["max_participants"] = int(max_participants)
    ice_ports = args.ice_ports or os.environ.get("BACKDROP_ICE_PORTS")
    if ice_ports:
        try:
            overrides["ice_ports"] = parse_port_range(ice_ports)
        except ValueError as error:
            raise BackdropError(str(error)) from None
    settings = Settings(host=args.host, port=args.port, data_dir=args.data_dir, statistic=args.statistic,
                        degradation=args.degradation, loopback_candidates=loopback, **overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    print(f"Backdrop serving on http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, shutdown_timeout=5.0)
    return 0


def _loadtest(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from .loadtest.plots import write_plots
    from .loadtest.runner import Loadtest, LoadtestConfig, format_table, parse_rate, terminal_progress
    from .web.join_tokens import issue_join_token

    try:
        width, height = (int(v) for v in args.resolution.lower().split("x"))
        bitrate = parse_rate(args.bitrate)
    except ValueError:
        raise BackdropError("--resolution must be WIDTHxHEIGHT and --bitrate a rate such as 300k") from None
    secret = os.environ.get("BACKDROP_JOIN_SECRET")
    token_for = (lambda room, name: issue_join_token(secret, room, name, int(args.duration) + 600)) if secret else None
    config = LoadtestConfig(args.url[0], args.rooms, args.participants, args.duration, width, height, args.fps,
                            bitrate, args.footage, token_for=token_for, relay_only=args.relay_only,
                            more_urls=tuple(args.url[1:]))
    logging.getLogger().setLevel(logging.WARNING)
    summary = asyncio.run(Loadtest(config, terminal_progress).run())
    print(file=sys.stderr)
    print(format_table(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    if args.plots:
        for path in write_plots(summary, args.plots):
            print(f"wrote {path}")
    return 0


def _token(args: argparse.Namespace) -> int:

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
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "log_format", "text"))
    try:
        return args.handler(args)
    except (BackdropError, ValueError) as error:
        print(f"backdrop: error: {error}", file=sys.stderr)
        return 2
