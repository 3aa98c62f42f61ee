"""Synthetic participants: real aiortc peers that join through the same signaling as a browser."""
