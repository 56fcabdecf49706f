"""Listeners run after a letter is dispatched, e.g. the SMS notice to the citizen."""
from __future__ import annotations

import logging
from typing import Callable, List

from portal.models import Letter

log = logging.getLogger(__name__)

LetterListener = Callable[[Letter], None]


class LetterNotifier:
    """Calls each listener in turn; a failing listener never fails the dispatch."""

    def __init__(self) -> None:
        self.listeners: List[LetterListener] = []

    def subscribe(self, listener: LetterListener) -> LetterListener:
        self.listeners.append(listener)
        return listener

    def letter_dispatched(self, letter: Letter) -> None:
        for listener in self.listeners:
            try:
                listener(letter)
            except Exception:  # the letter is filed; its notice can be retried later
                log.exception("letter listener failed for letter %s", letter.id)
