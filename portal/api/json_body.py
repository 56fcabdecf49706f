"""A JSON request body is checked before any view or schema reads it.

Python's parser accepts what the database, the hashing and the schemas then fail on with a
500: lone UTF-16 surrogates ("\\ud800" is valid JSON but cannot be encoded as UTF-8), nesting
deep enough to exhaust the recursion limit, integers of thousands of digits or beyond 64 bits,
and NaN or Infinity. Each of these gets a 400 that names the problem, and nothing runs.
"""
from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask, request

from portal.errors import MalformedRequest

MAX_DEPTH = 20
MAX_INT = 2 ** 63 - 1


def _reject_constant(name: str) -> Any:
    raise MalformedRequest(f"{name} is not allowed in JSON here.", code="malformed_json")


def _check_string(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedRequest("The JSON body holds text that is not valid Unicode "
                               "(a lone surrogate).", code="malformed_json")


def check_value(document: Any) -> None:
    """Raises MalformedRequest for anything the portal cannot store or compare safely."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedRequest(f"The JSON body is nested deeper than {MAX_DEPTH} levels.",
                                   code="malformed_json")
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_INT:
                raise MalformedRequest("A number in the JSON body is too large.",
                                       code="malformed_json")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise MalformedRequest("A number in the JSON body is too large.",
                                       code="malformed_json")
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_string(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def parse(data: bytes) -> Any:
    """The body as JSON, checked; MalformedRequest when it is not acceptable."""
    try:
        document = json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedRequest(f"The JSON body is nested deeper than {MAX_DEPTH} levels.",
                               code="malformed_json")
    except ValueError as error:  # not JSON, not UTF-8, or an integer of too many digits
        raise MalformedRequest(f"The body is not valid JSON: {error.__class__.__name__}.",
                               code="malformed_json")
    check_value(document)
    return document


def register(app: Flask) -> None:
    @app.before_request
    def check_json_body() -> None:
        if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
            return
        data = request.get_data(cache=True)
        if data:
            parse(data)
