"""Runs the real custom actions, one turn at a time, against a running portal.

Rasa itself is not involved here (the end-to-end tests cover it): each turn names the
intent NLU would give, the action runs with a tracker built from the conversation so far,
and its slot events are applied the way Rasa applies them. A form an action opens asks with
its action_ask_<slot>, takes the next message whole (the domain's from_text mapping), and is
followed by the action the rules name.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.cases import ActionAskCaseText, ActionConfirmCase, ActionWriteCase
from actions.deletion import ActionAskDeleteConversation
from actions.domain import loaded as domain
from actions.handoff import ActionAffirm, ActionDeny, ActionFallback, ActionHandoff
from actions.invoices import ActionListInvoices
from actions.kindergarten import ActionAnswerOffer
from actions.language import ActionChooseLanguage
from actions.letters import ActionListLetters, ActionReadLetter
from actions.login import ActionInform, ActionLogin, ActionLogout
from actions.personal_code import ActionChangePersonalCode, ActionForgotPersonalCode
from actions.portal_client import portal
from actions.properties import ActionListProperties
from actions.slots import ValidateSlotMappings
from portal.conversation_ids import PREFIX_OF

ACTIONS = {
    "login": ActionLogin, "inform": ActionInform, "logout": ActionLogout,
    "check_messages": ActionListLetters, "read_message": ActionReadLetter,
    "accept_offer": ActionAnswerOffer, "decline_offer": ActionAnswerOffer,
    "affirm": ActionAffirm, "deny": ActionDeny, "check_invoices": ActionListInvoices,
    "show_paid_invoices": ActionListInvoices, "human_handoff": ActionHandoff,
    "nlu_fallback": ActionFallback, "check_properties": ActionListProperties,
    "choose_language": ActionChooseLanguage, "delete_conversation": ActionAskDeleteConversation,
    "no_personal_code": ActionInform, "change_personal_code": ActionChangePersonalCode,
    "forgot_personal_code": ActionForgotPersonalCode,
    "write_to_municipality": ActionWriteCase,
}
# Each form of the domain: its slot, the action asking for it, what follows (data/rules/).
FORMS = {"case_form": ("case_text", ActionAskCaseText, ActionConfirmCase)}


class BotConversation:
    """One conversation on a channel; its id gets the channel's prefix, as channels issue it."""

    def __init__(self, sender_id: str, channel: str = "rest"):
        self.sender_id, self.channel = PREFIX_OF[channel] + sender_id, channel
        self.slots: Dict[str, Any] = {
            name: spec.get("initial_value") for name, spec in domain()["slots"].items()}
        self.active_loop: Optional[str] = None

    def _tracker(self, text: str, intent: str, entities: List[Dict[str, Any]]) -> Tracker:
        message = {"text": text, "intent": {"name": intent, "confidence": 0.99},
                   "entities": entities}
        events = [{"event": "user", "text": text, "parse_data": message,
                   "input_channel": self.channel}]
        return Tracker(self.sender_id, dict(self.slots), message, events, False, None, {},
                       "action_listen")

    def _apply(self, events: List[Dict[str, Any]]) -> None:
        for event in events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
            elif event.get("event") == "active_loop":
                self.active_loop = event.get("name")

    def say(self, text: str, intent: str,
            entities: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
        """One citizen message; returns the bot's messages."""
        found = [{"entity": k, "value": v} for k, v in (entities or {}).items()]
        dispatcher = CollectingDispatcher()
        asyncio.run(self._turn(dispatcher, text, intent, found))
        return dispatcher.messages

    async def _turn(self, dispatcher: CollectingDispatcher, text: str, intent: str,
                    found: List[Dict[str, Any]]) -> None:
        try:
            self._apply(await ValidateSlotMappings().run(
                CollectingDispatcher(), self._tracker(text, intent, found), domain()))
            if self.active_loop:  # the form takes the message whole, then ends
                slot, _, after = FORMS[self.active_loop]
                self.slots[slot], self.active_loop = text, None
                action = after
            else:
                action = ACTIONS[intent]
            self._apply(await action().run(
                dispatcher, self._tracker(text, intent, found), domain()))
            if self.active_loop:  # opened (or opened again): it asks
                self._apply(await FORMS[self.active_loop][1]().run(
                    dispatcher, self._tracker(text, intent, found), domain()))
        finally:
            await portal.close()  # each turn runs in its own event loop

    @staticmethod
    def texts(messages: List[Dict[str, Any]]) -> str:
        return "\n".join(m.get("text") or "" for m in messages)
