"""aiortc and PyAV adapters: peers, rooms, composite tracks, the encoded-size tap."""
