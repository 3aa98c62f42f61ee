"""The pure imaging core: segmentation, quality estimation, degradation and compositing.

Only numpy, OpenCV, MediaPipe and PyAV (as a codec) are used here; no asyncio, aiortc or aiohttp.
"""
