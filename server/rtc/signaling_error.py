"""The error a request to the conference is refused with (its ``code`` goes to the client)."""

from __future__ import annotations


class SignalingError(ValueError):
    """A request the conference refuses; ``code`` is sent to the client."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail
