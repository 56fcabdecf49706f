"""Signed web chat tickets: `<conversation id>.<expiry>.<HMAC>`, issued by the web chat channel.

A ticket lets the browser resume its conversation after a reload (or after the ID-porten
login) until it expires; every new connection gets a fresh one. Dependency-free: the
Rasa-side channel issues tickets and the portal (ID-porten login) reads them, with the same
WEBCHAT_SECRET.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Optional

TICKET_SECONDS = 12 * 3600  # a day's visits; the citizen's login session ends much sooner


def sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def ticket(secret: bytes, conversation_id: str, now: Optional[float] = None,
           seconds: int = TICKET_SECONDS) -> str:
    payload = f"{conversation_id}.{int(now if now is not None else time.time()) + seconds}"
    return f"{payload}.{sign(secret, payload)}"


def conversation_of_ticket(secret: bytes, value: Any, now: Optional[float] = None
                           ) -> Optional[str]:
    """The web chat conversation a ticket names, if `secret` signed it and it has not expired."""
    if not secret or not isinstance(value, str) or len(value) > 256 or value.count(".") != 2:
        return None
    conversation_id, expires, signature = value.split(".")
    if not (conversation_id.startswith("web-") and len(conversation_id) > 4
            and expires.isdigit() and hmac.compare_digest(
                signature, sign(secret, f"{conversation_id}.{expires}"))):
        return None
    if int(expires) <= (now if now is not None else time.time()):
        return None
    return conversation_id
