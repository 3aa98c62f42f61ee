"""Errors the application reports to its users (CLI messages, HTTP error bodies)."""


class BackdropError(Exception):
    """A failure with a message fit for the user; ``code`` is a short machine-readable name."""

    code = "error"

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class InputError(BackdropError):
    """The user's input (a file, an argument) cannot be used."""

    code = "bad_input"
