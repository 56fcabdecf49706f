"""Login by fødselsnummer, personal code and the one-time code from the SMS; and logout."""
from __future__ import annotations

import re
from typing import Awaitable, Callable, Dict, Optional

from actions import cases
from actions.invoices import show_invoices
from actions.kindergarten import mention_open_offer, start_answer
from actions.letters import read_letter, show_letters
from actions.login_steps import find_fnr, say_refused_guess
from actions.personal_code import choose_code, confirm_old_code, find_personal_code
from actions.personal_code import says_no_personal_code, submit_reset
from actions.portal_client import PortalError, SessionInvalid, portal
from actions.properties import show_properties
from actions.turn import Turn, TurnAction

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
    "write_to_municipality": cases.resume,
}


def find_code(turn: Turn) -> Optional[str]:
    value = turn.entity("otp_code")
    if value is None and turn.slot("login_step") != "otp_code":
        return None
    match = CODE.search(value or turn.text)
    return "".join(match.groups()) if match else None


async def submit_fnr(turn: Turn, fnr: str) -> None:
    try:
        await portal.start_login(fnr, turn.conversation)
    except PortalError as error:
        if error.status != 422:
            raise
        turn.set("login_step", "fnr")
        turn.say("utter_invalid_fnr")
        return
    turn.set("login_step", "personal_code")
    turn.say("utter_ask_personal_code")


async def submit_personal_code(turn: Turn, personal_code: Optional[str]) -> None:
    """Only when the number and the personal code are both right does an SMS go out; the
    reply is the same either way."""
    try:
        await portal.request_code(personal_code, turn.conversation)
    except PortalError as error:
        if error.code == "login_not_started":
            turn.ask_login(resume=turn.slot("pending_intent"))
        elif not say_refused_guess(turn, error):
            raise
        return
    turn.set("login_step", "otp_code")
    turn.say("utter_code_sent_if_registered")


async def after_login(turn: Turn) -> None:
    """Continues the journey that waited for the login."""
    pending = turn.slot("pending_intent")
    turn.set("pending_intent", None)
    if pending in RESUME:
        await RESUME[pending](turn)
    if pending not in ("accept_offer", "decline_offer", "write_to_municipality"):
        await mention_open_offer(turn)


async def submit_code(turn: Turn, code: str) -> None:
    try:
        login = await portal.verify_code(code, turn.conversation)
    except PortalError as error:
        if error.code == "wrong_code":
            turn.say("utter_wrong_code", attempts_left=error.details.get("attempts_left", 0))
        elif error.code == "code_expired":
            turn.set("login_step", None)
            turn.say("utter_code_expired")
        elif not say_refused_guess(turn, error):
            raise
        return
    turn.set("logged_in", True)
    turn.set("first_name", login["first_name"])
    turn.set("language", login["language"])
    turn.set("login_step", None)
    turn.say("utter_logged_in", first_name=login["first_name"])
    if login.get("reset_cancelled"):
        turn.say("utter_reset_cancelled_by_login")
    if login.get("choose_personal_code"):
        turn.set("login_step", "choose_code")
        turn.say("utter_choose_personal_code")
        return
    await after_login(turn)


async def on_personal_code_step(turn: Turn) -> bool:
    """Handles a message at a step that waits for a personal code; False at any other step."""
    step = turn.slot("login_step")
    if step == "personal_code":
        if says_no_personal_code(turn):
            await submit_personal_code(turn, None)
        elif find_personal_code(turn):
            await submit_personal_code(turn, find_personal_code(turn))
        else:
            turn.say("utter_ask_personal_code")
    elif step in ("choose_code", "change_new"):
        chosen = await choose_code(turn, find_personal_code(turn) or turn.text.strip())
        if chosen and step == "choose_code":
            await after_login(turn)
    elif step == "change_old":
        await confirm_old_code(turn, find_personal_code(turn) or "")
    else:
        return False
    return True


class ActionLogin(TurnAction):
    def name(self) -> str:
        return "action_login"

    async def act(self, turn: Turn) -> None:
        if turn.slot("login_step") == "personal_code" and says_no_personal_code(turn):
            await submit_personal_code(turn, None)  # "ny": a first login, not a new start
            return
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
    """Digits typed during login: a fødselsnummer, a personal code or a one-time code."""

    def name(self) -> str:
        return "action_inform"

    async def act(self, turn: Turn) -> None:
        fnr, step = find_fnr(turn), turn.slot("login_step")
        if fnr and step == "reset_fnr":
            await submit_reset(turn, fnr)
        elif fnr:
            await submit_fnr(turn, fnr)
        elif await on_personal_code_step(turn):
            return
        elif find_code(turn):
            await submit_code(turn, find_code(turn))
        elif step == "otp_code":
            turn.say("utter_ask_otp")
        elif step in ("fnr", "reset_fnr") or re.search(r"\d{5,}", turn.text):
            turn.say("utter_invalid_fnr")
        else:
            turn.say("utter_ask_rephrase")


class ActionLogout(TurnAction):
    def name(self) -> str:
        return "action_logout"

    async def act(self, turn: Turn) -> None:
        if turn.slot("login_step") == "personal_code" and says_no_personal_code(turn):
            await submit_personal_code(turn, None)  # "ny": a first login, not a new start
            return
        if turn.logged_in:
            try:
                await portal.logout(turn.conversation)
            except SessionInvalid:
                pass
        turn.forget_session()
        turn.set("login_step", None)
        turn.set("pending_intent", None)
        turn.say("utter_logged_out")
