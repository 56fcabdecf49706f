"""Signed web chat tickets: `<conversation id>.<HMAC>`, issued by the web chat channel.

Dependency-free: the Rasa-side channel issues tickets and the portal (ID-porten login)
reads them, with the same WEBCHAT_SECRET.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Optional


def sign(secret: bytes, conversation_id: str) -> str:
    return hmac.new(secret, conversation_id.encode(), hashlib.sha256).hexdigest()


def ticket(secret: bytes, conversation_id: str) -> str:
    return f"{conversation_id}.{sign(secret, conversation_id)}"


def conversation_of_ticket(secret: bytes, value: Any) -> Optional[str]:
    """The web chat conversation a ticket names, if it was signed with `secret`."""
    if not secret or not isinstance(value, str) or "." not in value:
        return None
    conversation_id, _, signature = value.rpartition(".")
    if conversation_id.startswith("web-") and len(conversation_id) > 4 and hmac.compare_digest(
            signature, sign(secret, conversation_id)):
        return conversation_id
    return None
