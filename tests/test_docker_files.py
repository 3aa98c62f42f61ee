"""The Docker image's files agree with each other (no Docker engine runs on these machines, so the
image itself is not built here): every path the Dockerfile copies is let into the build context by
``docker/Dockerfile.dockerignore``, which keeps everything else (``.venv``, ``./data``) out, and the
packages are installed at the versions the suite passed with."""

from __future__ import annotations

from pathlib import Path

DOCKER = Path(__file__).resolve().parents[1] / "docker"


def _copied_paths(dockerfile: str) -> list[str]:
    paths = []
    for line in dockerfile.splitlines():
        words = line.split()
        if words and words[0] == "COPY":
            paths += [word for word in words[1:-1] if not word.startswith("--")]
    return paths


def test_the_build_context_lets_in_exactly_what_the_image_copies() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    patterns = [line.strip() for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    let_in = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    copied = {path.rstrip("/") for path in _copied_paths(dockerfile)}
    assert copied == let_in, f"copied but kept out: {copied - let_in}; let in but not copied: {let_in - copied}"
    root = DOCKER.parent
    assert all((root / path).exists() for path in copied)


def test_the_image_installs_the_pinned_versions() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "COPY scripts/constraints.txt ./" in dockerfile
    assert "pip install --no-cache-dir -c constraints.txt ." in dockerfile
