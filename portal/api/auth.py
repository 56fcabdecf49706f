"""Request authentication: service tokens, and the citizen session a request acts for."""
from __future__ import annotations

import functools
import hmac
from typing import Callable

from flask import g, request

from portal.api.context import get_db, now, settings
from portal.errors import Unauthorized
from portal.models import CitizenSession
from portal.services.audit import Actor
from portal.services.sessions import resolve_session

CONVERSATION_HEADER = "X-Conversation-Id"
CHANNEL_HEADER = "X-Channel"


def _bearer_matches(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(
        token.encode(), expected.encode())


def _token_required(expected_of: Callable[[], str]) -> Callable:
    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not _bearer_matches(expected_of()):
                raise Unauthorized("A valid bearer token is required.", code="invalid_token")
            return view(*args, **kwargs)
        return wrapper
    return decorator


service_token_required = _token_required(lambda: settings().service_token)
dispatch_token_required = _token_required(lambda: settings().dispatch_token)
gateway_token_required = _token_required(lambda: settings().gateway_token)


def citizen_session_required(view: Callable) -> Callable:
    """The action server's token plus the live session of the named conversation and channel."""

    @functools.wraps(view)
    @service_token_required
    def wrapper(*args, **kwargs):
        db = get_db()
        g.citizen_session = resolve_session(
            db, request.headers.get(CHANNEL_HEADER), request.headers.get(CONVERSATION_HEADER),
            now=now(), idle_minutes=settings().session_idle_minutes,
        )
        return view(*args, **kwargs)

    return wrapper


def current_session() -> CitizenSession:
    return g.citizen_session


def current_citizen_id() -> int:
    return g.citizen_session.citizen_id


def current_actor() -> Actor:
    row = g.citizen_session
    return Actor.citizen(row.citizen_id, row.channel.value)
