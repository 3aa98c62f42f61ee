"""Offline tools: run the per-frame pipeline on video files."""
