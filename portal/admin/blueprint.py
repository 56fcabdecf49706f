"""The admin pages' blueprint, and the words they give for a refused action."""
from __future__ import annotations

from flask import Blueprint

from portal.errors import PortalError
from portal.staff.auth import translate

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")


def error_text(exc: PortalError) -> str:
    """The page's words for a refused action (the service's English message otherwise)."""
    key = "err_" + exc.code
    try:
        return translate(key, **{k: v for k, v in exc.details.items()
                                 if isinstance(v, (int, str))})
    except KeyError:
        return exc.message
