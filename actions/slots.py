"""Slots filled on every turn, before the next action is chosen."""
from __future__ import annotations

from typing import Any, Dict

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from portal.texts import language


class ValidateSlotMappings(ValidationAction):
    """Fills `language`: a language asked for by name; else the portal's preference once
    logged in; else the language the citizen writes in."""

    async def extract_language(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: Dict[str, Any]) -> Dict[str, Any]:
        current = tracker.get_slot("language")
        text = tracker.latest_message.get("text") or ""
        asked = language.requested(text) if len(text) <= 60 else None
        if asked:  # "på nynorsk", "in English": a choice, logged in or not
            return {"language": asked}
        if tracker.get_slot("logged_in"):
            return {"language": current}
        return {"language": language.detect(text, previous=current)}

    async def validate_language(self, value: Any, dispatcher: CollectingDispatcher,
                                tracker: Tracker, domain: Dict[str, Any]) -> Dict[str, Any]:
        return {"language": value if value in language.MARKERS else "nb"}
