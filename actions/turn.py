"""What every custom action shares: the conversation, the language, replies and login."""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.portal_client import (Conversation, PortalError, PortalUnavailable, SessionInvalid,
                                   portal)
from actions.responses import render
from portal.conversation_ids import channel_of
from portal.privacy import QUOTES_CITIZEN

log = logging.getLogger(__name__)

SESSION_SLOTS = ("logged_in", "first_name", "pending_offer_answer", "pending_offer_id",
                 "pending_case")
# Slots holding a JA/NEI question; each lasts only until the next action.
QUESTIONS = ("pending_deletion", "pending_case")


class UnknownChannel(PortalError):
    """The conversation id was not issued by one of our channels: nothing is done for it."""

    def __init__(self) -> None:
        super().__init__(400, "unknown_channel", "conversation id of no channel", {})


class Turn:
    """One action run: reads the tracker, collects replies and slot changes."""

    def __init__(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                 domain: Dict[str, Any]):
        self.dispatcher, self.tracker, self.domain = dispatcher, tracker, domain
        self.events: List[EventType] = []
        self.slots: Dict[str, Any] = {}
        self.language = tracker.get_slot("language") or "nb"

    def slot(self, name: str) -> Any:
        return self.slots[name] if name in self.slots else self.tracker.get_slot(name)

    def set(self, name: str, value: Any) -> None:
        self.slots[name] = value
        self.events.append(SlotSet(name, value))
        if name == "language" and value:
            self.language = value

    def say(self, response: str, quotes_citizen: bool = False, **values: Any) -> None:
        """`quotes_citizen`: the reply repeats what the citizen wrote, so the tracker store and
        the transcript mask it as the citizen's own text (portal.privacy.QUOTES_CITIZEN)."""
        extra = {QUOTES_CITIZEN: True} if quotes_citizen else {}
        self.dispatcher.utter_message(**render(self.domain, response, self.language, **values),
                                      **extra)

    def say_text(self, text: str, buttons: Optional[List[Dict[str, str]]] = None) -> None:
        self.dispatcher.utter_message(text=text, buttons=buttons or [])

    @property
    def conversation(self) -> Conversation:
        """The conversation on the channel its id names (never the message's input channel,
        which an API client can choose)."""
        channel = channel_of(self.tracker.sender_id)
        if channel is None:
            raise UnknownChannel()
        return Conversation(channel, self.tracker.sender_id)

    @property
    def logged_in(self) -> bool:
        """What the bot believes; the portal decides on every request."""
        return bool(self.slot("logged_in"))

    @property
    def intent(self) -> str:
        return (self.tracker.latest_message.get("intent") or {}).get("name") or ""

    @property
    def text(self) -> str:
        return self.tracker.latest_message.get("text") or ""

    def entity(self, name: str) -> Optional[str]:
        return next(self.tracker.get_latest_entity_values(name), None)

    def open_form(self, name: str) -> None:
        """Starts a form of the domain: Rasa runs it next, and it asks for its first empty
        slot."""
        self.events.append(ActiveLoop(name))

    def forget_session(self) -> None:
        for name in SESSION_SLOTS:
            self.set(name, None)

    async def recall_login(self) -> bool:
        """Whether the portal holds a login for this conversation that the bot does not know
        of (made outside the chat, such as with ID-porten); if so the login slots follow it."""
        try:
            me = await portal.me(self.conversation)
        except SessionInvalid:
            return False
        self.set("logged_in", True)
        self.set("first_name", me["first_name"])
        self.set("login_step", None)
        return True

    def ask_login(self, resume: Optional[str] = None) -> None:
        """Asks for the fødselsnummer; `resume` is the journey to continue after login."""
        self.set("pending_intent", resume)
        self.set("login_step", "fnr")
        self.say("utter_ask_fnr")


class TurnAction(Action, ABC):
    """An action that may reach the portal; failures become clear replies, never silence."""

    requires_login = False
    keeps_fallback_count = False
    # The question (one of QUESTIONS) this action asks; any other lasts only until it runs.
    asks: Optional[str] = None
    # The journey to continue after a login that expired during this action (default: the
    # message's intent).
    resumes: Optional[str] = None

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[str, Any]) -> List[EventType]:
        turn = Turn(dispatcher, tracker, domain)
        try:
            if self.requires_login and not turn.logged_in and not await turn.recall_login():
                turn.ask_login(resume=turn.intent)
                self._end_question(turn)
                return turn.events
            await self.act(turn)
        except SessionInvalid:
            turn.forget_session()
            turn.say("utter_session_expired")
            turn.ask_login(resume=self.resumes or turn.intent)
        except PortalUnavailable:
            turn.say("utter_portal_unavailable")
        except PortalError as error:  # a refusal this action has no words for
            log.warning("%s: portal refused with %s", self.name(), error.code)
            turn.say("utter_portal_unavailable")
        if not self.keeps_fallback_count and turn.slot("fallback_count"):
            turn.set("fallback_count", 0.0)
        self._end_question(turn)
        return turn.events

    def _end_question(self, turn: Turn) -> None:
        for question in QUESTIONS:
            if question != self.asks and turn.slot(question):
                turn.set(question, False if question == "pending_deletion" else None)

    @abstractmethod
    async def act(self, turn: Turn) -> None:
        """The action's work; replies and slot changes go through `turn`."""
