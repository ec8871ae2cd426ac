"""Domain errors. Each carries the exact Healthchecks status code and text it maps to.

``app.py`` turns them into responses in one place (``chalicelib.web.error_response``).
"""

from __future__ import annotations


class VigilError(Exception):
    """Base class: an error with an HTTP status and a Healthchecks-compatible message."""

    status_code = 500
    message = "internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message is not None:
            self.message = message


class ConfigError(VigilError):
    """A required setting is missing or malformed."""


class NotFound(VigilError):
    """The check (or ping key, or slug) does not exist."""

    status_code = 404
    message = "not found"


class AmbiguousSlug(VigilError):
    """More than one check of the project has the pinged slug."""

    status_code = 409
    message = "ambiguous slug"


class TextError(VigilError):
    """An API error Healthchecks answers in plain text rather than JSON."""


class NotPaused(TextError):
    status_code = 409
    message = "check is not paused"


class CheckLimitReached(TextError):
    """Healthchecks answers an over-limit create with an empty 403."""

    status_code = 403
    message = ""


class MethodNotAllowed(VigilError):
    status_code = 405
    message = "method not allowed"


class NotAcceptable(VigilError):
    """A binary ping body asked for without an Accept header that takes bytes."""

    status_code = 406
    message = "this ping body is binary: send Accept: application/octet-stream"


class InvalidUrl(VigilError):
    """A ping URL that matches a route but not the protocol (exit status > 255)."""

    status_code = 400
    message = "invalid url format"


class InvalidRunId(VigilError):
    """A ``rid`` that is not a canonical UUID."""

    status_code = 400
    message = "invalid uuid format"


class BadRequest(VigilError):
    """A management API request body that cannot be accepted."""

    status_code = 400
    message = "could not parse request body"


class ValidationFailed(BadRequest):
    """A field failed validation; message is ``json validation error: <field> <problem>``."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"json validation error: {problem}")


class MissingApiKey(VigilError):
    status_code = 401
    message = "missing api key"


class WrongApiKey(VigilError):
    status_code = 401
    message = "wrong api key"


class Forbidden(VigilError):
    """The key is valid but the object belongs to another project."""

    status_code = 403
    message = "forbidden"
