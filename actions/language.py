"""Choosing the language the assistant writes in ("på nynorsk", "in English")."""
from __future__ import annotations

from actions.portal_client import SessionInvalid, portal
from actions.turn import Turn, TurnAction
from portal.texts import language


class ActionChooseLanguage(TurnAction):
    """The language slot already follows the choice (actions/slots.py); this confirms it and,
    for a logged-in citizen, keeps it as their preference in the portal."""

    def name(self) -> str:
        return "action_choose_language"

    async def act(self, turn: Turn) -> None:
        chosen = language.requested(turn.text)
        if chosen is None:
            turn.say("utter_ask_language")
            return
        turn.set("language", chosen)
        if turn.logged_in:
            try:
                await portal.set_language(turn.conversation, chosen)
            except SessionInvalid:
                turn.forget_session()
            else:
                turn.say("utter_language_kept")
                return
        turn.say("utter_language_chosen")
