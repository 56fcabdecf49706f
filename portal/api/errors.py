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
        body, status = error_response(exc.code or 500, code, exc.description or exc.name)
        # Keep what the exception says beyond its text, e.g. `Allow` on a 405.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                body.headers[name] = value
        return body, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")

    @apifairy.process_apispec
    def document_common_errors(spec: dict) -> dict:
        """Every operation documents the errors the portal gives for any request of its kind."""
        return add_common_errors(spec)

    @apifairy.error_handler
    def validation_error(status_code, messages):
        status = 422 if status_code == 400 else status_code
        return error_response(status, "invalid_input", "The request is not valid.",
                              {"fields": messages})


COMMON_ERRORS = {
    "400": "The body could not be read (broken or hostile JSON)",
    "401": "Missing or wrong credentials",
    "404": "No such resource",
    "413": "The body is too large",
    "422": "The request is not valid",
}


def add_common_errors(spec: dict) -> dict:
    error_schema = {"$ref": "#/components/schemas/Error"}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            wanted = ["422"]
            if "requestBody" in operation:
                wanted += ["400", "413"]
            if path.startswith("/api/") or path.startswith("/dev/"):
                wanted.append("401")
            if "{" in path:
                wanted.append("404")
            for status in wanted:
                operation["responses"].setdefault(status, {
                    "description": COMMON_ERRORS[status],
                    "content": {"application/json": {"schema": error_schema}}})
    return spec
