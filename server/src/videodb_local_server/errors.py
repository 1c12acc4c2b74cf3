"""The error answers of the local server, as types: each carries its HTTP status and the
``error_code`` of the VideoDB envelope (``{"success": false, "message", "error_code"}``).

No HTTP library here: the rules raise these, the middleware turns them into the envelope.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answer in the VideoDB envelope."""

    status: int = 500
    error_code: str = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400
    error_code = "invalid_request"


class InvalidMedia(BadRequest):
    """The uploaded file is not media the server can cut."""

    error_code = "invalid_media"


class InvalidFault(BadRequest):
    """A fault rule (``POST /_twin/faults``) was refused."""

    error_code = "invalid_fault"


class Unauthorized(ApiError):
    status = 401
    error_code = "unauthorized"


class InsufficientCredits(ApiError):
    status = 402
    error_code = "insufficient_credits"


class PlanUpgradeRequired(ApiError):
    status = 403
    error_code = "plan_upgrade_required"


class NotFound(ApiError):
    status = 404
    error_code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    error_code = "invalid_request"


class PayloadTooLarge(ApiError):
    status = 413
    error_code = "payload_too_large"

    @classmethod
    def over(cls, limit: int) -> PayloadTooLarge:
        return cls(f"Request body is larger than {limit} bytes")


class InternalError(ApiError):
    """Anything unexpected: still an envelope, never a bare 500."""
