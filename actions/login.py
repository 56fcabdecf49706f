"""Login by one-time code: fødselsnummer, then the code from the SMS; and logout."""
from __future__ import annotations

import math
import re
from typing import Awaitable, Callable, Dict, Optional

from actions.invoices import show_invoices
from actions.kindergarten import mention_open_offer, start_answer
from actions.letters import read_letter, show_letters
from actions.portal_client import PortalError, SessionInvalid, portal
from actions.properties import show_properties
from actions.turn import Turn, TurnAction

FNR = re.compile(r"(?<!\d)(\d{6})\s?(\d{5})(?!\d)")
CODE = re.compile(r"(?<!\d)(\d{3})\s?(\d{3})(?!\d)")

# Journeys that wait for a login and continue right after it.
RESUME: Dict[str, Callable[[Turn], Awaitable[None]]] = {
    "check_messages": show_letters,
    "read_message": read_letter,
    "accept_offer": start_answer,
    "decline_offer": start_answer,
    "check_invoices": show_invoices,
    "show_paid_invoices": show_invoices,
    "check_properties": show_properties,
}


def find_fnr(turn: Turn) -> Optional[str]:
    value = turn.entity("fnr")
    match = FNR.search(value or turn.text)
    return "".join(match.groups()) if match else None


def find_code(turn: Turn) -> Optional[str]:
    value = turn.entity("otp_code")
    if value is None and turn.slot("login_step") != "otp_code":
        return None
    match = CODE.search(value or turn.text)
    return "".join(match.groups()) if match else None


async def submit_fnr(turn: Turn, fnr: str) -> None:
    try:
        await portal.request_code(fnr, turn.conversation)
    except PortalError as error:
        if error.code == "too_many_codes":
            turn.say("utter_too_many_codes")
        elif error.status == 422:
            turn.set("login_step", "fnr")
            turn.say("utter_invalid_fnr")
        else:
            raise
        return
    turn.set("login_step", "otp_code")
    turn.say("utter_code_sent_if_registered")


async def submit_code(turn: Turn, code: str) -> None:
    try:
        login = await portal.verify_code(code, turn.conversation)
    except PortalError as error:
        if error.code == "wrong_code":
            turn.say("utter_wrong_code", attempts_left=error.details.get("attempts_left", 0))
        elif error.code == "code_expired":
            turn.set("login_step", None)
            turn.say("utter_code_expired")
        elif error.code in ("login_locked", "login_backoff"):
            seconds = error.details.get("retry_after_seconds", 60)
            turn.say("utter_login_locked", retry_after_minutes=max(1, math.ceil(seconds / 60)))
        else:
            raise
        return
    turn.set("logged_in", True)
    turn.set("first_name", login["first_name"])
    turn.set("language", login["language"])
    turn.set("login_step", None)
    turn.say("utter_logged_in", first_name=login["first_name"])
    pending = turn.slot("pending_intent")
    turn.set("pending_intent", None)
    if pending in RESUME:
        await RESUME[pending](turn)
    if pending not in ("accept_offer", "decline_offer"):
        await mention_open_offer(turn)


class ActionLogin(TurnAction):
    def name(self) -> str:
        return "action_login"

    async def act(self, turn: Turn) -> None:
        if turn.logged_in:
            try:
                await portal.me(turn.conversation)
                turn.say("utter_already_logged_in", first_name=turn.slot("first_name"))
                return
            except SessionInvalid:
                turn.forget_session()
        elif await turn.recall_login():  # logged in outside the chat (ID-porten)
            turn.say("utter_already_logged_in", first_name=turn.slot("first_name"))
            return
        fnr = find_fnr(turn)
        if fnr:
            await submit_fnr(turn, fnr)
        else:
            turn.ask_login(resume=turn.slot("pending_intent"))


class ActionInform(TurnAction):
    """Digits typed during login: a fødselsnummer or a one-time code."""

    def name(self) -> str:
        return "action_inform"

    async def act(self, turn: Turn) -> None:
        fnr, code = find_fnr(turn), find_code(turn)
        if fnr:
            await submit_fnr(turn, fnr)
        elif code:
            await submit_code(turn, code)
        elif turn.slot("login_step") == "otp_code":
            turn.say("utter_ask_otp")
        elif turn.slot("login_step") == "fnr" or re.search(r"\d{5,}", turn.text):
            turn.say("utter_invalid_fnr")
        else:
            turn.say("utter_ask_rephrase")


class ActionLogout(TurnAction):
    def name(self) -> str:
        return "action_logout"

    async def act(self, turn: Turn) -> None:
        if turn.logged_in:
            try:
                await portal.logout(turn.conversation)
            except SessionInvalid:
                pass
        turn.forget_session()
        turn.set("login_step", None)
        turn.set("pending_intent", None)
        turn.say("utter_logged_out")
