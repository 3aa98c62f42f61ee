"""Per-stream frame processing and (later) the worker pool; knows frames and jobs, not WebRTC or HTTP."""
