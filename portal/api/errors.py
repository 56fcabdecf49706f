"""Every error leaves the API as {"error": {"code": ..., "message": ...}}."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from portal.extensions import apifairy
from portal.errors import PortalError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details=None):
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return jsonify(body), status


def register(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def portal_error(exc: PortalError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")

    @apifairy.error_handler
    def validation_error(status_code, messages):
        status = 422 if status_code == 400 else status_code
        return error_response(status, "invalid_input", "The request is not valid.",
                              {"fields": messages})
