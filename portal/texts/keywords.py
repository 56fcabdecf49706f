"""The SMS keywords a citizen can send, answered before the bot reads the message."""
from __future__ import annotations

from typing import Optional

STOP_WORDS = frozenset({"STOPP", "STOP", "AVSLUTT"})
START_WORDS = frozenset({"START"})
HELP_WORDS = frozenset({"HJELP", "HELP"})
MORE_WORDS = frozenset({"MER", "MORE"})  # the rest of a long answer ("Svar MER for resten")


def keyword(body: str) -> Optional[str]:
    """A single-word keyword in any case ("stopp", "Start!"), or None."""
    words = body.strip().strip(".!").upper().split()
    return words[0] if len(words) == 1 else None


def is_more_request(reply: Optional[str]) -> bool:
    """True if the reply asks for the rest of a long answer ("MER"/"MORE")."""
    word = (reply or "").strip().rstrip(".!?").strip().upper()
    return word in MORE_WORDS
