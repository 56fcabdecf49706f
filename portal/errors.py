"""Domain errors with stable codes; the API turns them into JSON error bodies."""
from __future__ import annotations

from typing import Any, Dict, Optional


class PortalError(Exception):
    """Base class: a stable machine-readable code, a message and an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: Optional[str] = None,
                 details: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class MalformedRequest(PortalError):
    """The request could not be read at all (broken or hostile JSON)."""

    status = 400
    code = "malformed_request"


class InvalidInput(PortalError):
    status = 422
    code = "invalid_input"


class NotFound(PortalError):
    status = 404
    code = "not_found"


class Unauthorized(PortalError):
    status = 401
    code = "unauthorized"


class Forbidden(PortalError):
    status = 403
    code = "forbidden"


class Conflict(PortalError):
    status = 409
    code = "conflict"


class RateLimited(PortalError):
    status = 429
    code = "rate_limited"


class BadRequest(PortalError):
    status = 400
    code = "bad_request"


class LengthRequired(PortalError):
    status = 411
    code = "length_required"


class TooLarge(PortalError):
    status = 413
    code = "too_large"
