"""HTTP and WebSocket front: the app factory, signaling, health, the browser client."""
