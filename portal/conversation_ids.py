"""Which channel a conversation belongs to, read from the prefix its channel gives its id.

Only the channel itself issues ids: the web chat (`web-` + a server-chosen random id), the
SMS channel (`sms-` + a keyed hash of the number) and the demo REST channel (`rest-` + the
sender the client names). A REST client therefore can never name a web or SMS conversation.
Dependency-free: the action server imports it too.
"""
from __future__ import annotations

from typing import Optional

PREFIXES = {"web-": "webchat", "sms-": "sms", "rest-": "rest"}
PREFIX_OF = {channel: prefix for prefix, channel in PREFIXES.items()}


def channel_of(conversation_id: Optional[str]) -> Optional[str]:
    """'webchat', 'sms' or 'rest' for an id its channel issued; None for any other id."""
    if not isinstance(conversation_id, str):
        return None
    for prefix, channel in PREFIXES.items():
        if conversation_id.startswith(prefix) and len(conversation_id) > len(prefix):
            return channel
    return None
