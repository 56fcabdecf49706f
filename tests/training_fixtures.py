"""Citizen messages written as the conversation gateway records them, for the training loop."""
from __future__ import annotations

from datetime import timedelta
from typing import Optional

from portal.models import Channel, Conversation, TranscriptMessage


def add_conversation(db, channel: Channel = Channel.WEBCHAT, sender: str = "s1",
                     at=None, citizen_id: Optional[int] = None) -> Conversation:
    conversation = Conversation(channel=channel, sender_key=sender, started_at=at,
                                last_message_at=at, citizen_id=citizen_id)
    db.add(conversation)
    db.flush()
    return conversation


def add_message(db, conversation: Conversation, text: str, *, intent: str = "nlu_fallback",
                confidence: Optional[float] = 0.3, language: str = "nb", at=None,
                direction: str = "in", author: str = "citizen") -> TranscriptMessage:
    at = at or conversation.started_at + timedelta(seconds=1)
    message = TranscriptMessage(conversation_id=conversation.id, at=at, direction=direction,
                                author=author, text=text, intent=intent,
                                confidence=confidence, language=language)
    db.add(message)
    db.flush()
    return message
