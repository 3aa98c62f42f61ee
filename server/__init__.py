"""Backdrop: a real-time compositing server for video calls."""

__version__ = "0.1.0"
