"""Slots filled on every turn, before the next action is chosen."""
from __future__ import annotations

from typing import Any, Dict

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from portal.texts import language


class ValidateSlotMappings(ValidationAction):
    """Fills `language`: the portal's preference once logged in, else what the citizen writes."""

    async def extract_language(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: Dict[str, Any]) -> Dict[str, Any]:
        current = tracker.get_slot("language")
        if tracker.get_slot("logged_in"):
            return {"language": current}
        text = tracker.latest_message.get("text") or ""
        return {"language": language.detect(text, previous=current)}

    async def validate_language(self, value: Any, dispatcher: CollectingDispatcher,
                                tracker: Tracker, domain: Dict[str, Any]) -> Dict[str, Any]:
        return {"language": value if value in language.MARKERS else "nb"}
