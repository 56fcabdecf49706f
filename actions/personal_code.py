"""The personal code in the chat: choosing it after the first login, changing it ("endre
personlig kode"), resetting a forgotten one ("glemt personlig kode") and AVBRYT."""
from __future__ import annotations

import re
from typing import Optional

from actions.login_steps import find_fnr, say_refused_guess
from actions.portal_client import PortalError, portal
from actions.turn import Turn, TurnAction

PERSONAL_CODE = re.compile(r"(?<!\d)(\d{4,8})(?!\d)")
# What a citizen with no personal code yet writes when asked for it.
NO_CODE_WORDS = {"ingen", "ingen kode", "har ingen", "ny", "none", "no code", "new"}
RULE_REPLIES = {"personal_code_format", "personal_code_repeated", "personal_code_run",
                "personal_code_birth_date"}


def find_personal_code(turn: Turn) -> Optional[str]:
    match = PERSONAL_CODE.search(turn.text)
    return match.group(1) if match else None


def says_no_personal_code(turn: Turn) -> bool:
    words = re.sub(r"[^\w ]", "", turn.text.lower()).strip()
    return turn.intent == "no_personal_code" or words in NO_CODE_WORDS


async def choose_code(turn: Turn, code: str) -> bool:
    """Sets the citizen's new code; a refused one is explained by the rule it breaks."""
    try:
        await portal.choose_personal_code(turn.conversation, code)
    except PortalError as error:
        if error.code in RULE_REPLIES:
            turn.say(f"utter_{error.code}")
        elif error.code == "old_code_required":
            turn.set("login_step", "change_old")
            turn.say("utter_ask_old_personal_code")
        elif error.status == 422:
            turn.say("utter_personal_code_format")
        else:
            raise
        return False
    changed = turn.slot("login_step") == "change_new"
    turn.set("login_step", None)
    turn.say("utter_personal_code_changed" if changed else "utter_personal_code_set")
    return True


async def confirm_old_code(turn: Turn, code: str) -> None:
    try:
        await portal.confirm_personal_code(turn.conversation, code)
    except PortalError as error:
        if error.code == "wrong_personal_code":
            turn.say("utter_wrong_personal_code",
                     attempts_left=error.details.get("attempts_left", 0))
        elif say_refused_guess(turn, error):
            turn.set("login_step", None)
        elif error.status == 422:
            turn.say("utter_ask_old_personal_code")
        else:
            raise
        return
    turn.set("login_step", "change_new")
    turn.say("utter_ask_new_personal_code")


async def submit_reset(turn: Turn, fnr: str) -> None:
    try:
        await portal.request_code_reset(fnr, turn.conversation)
    except PortalError as error:
        if error.status == 422:
            turn.say("utter_invalid_fnr")
        elif not say_refused_guess(turn, error):
            raise
        return
    turn.set("login_step", None)
    turn.say("utter_reset_requested_if_registered")


async def cancel_reset(turn: Turn) -> bool:
    """AVBRYT: cancels a waiting reset when this is the registered mobile's SMS conversation."""
    if turn.conversation.channel != "sms":
        return False
    if await portal.cancel_code_reset(turn.conversation):
        turn.say("utter_reset_cancelled")
        return True
    return False


class ActionChangePersonalCode(TurnAction):
    """"endre personlig kode": the current code first, then the new one."""

    requires_login = True

    def name(self) -> str:
        return "action_change_personal_code"

    async def act(self, turn: Turn) -> None:
        turn.set("login_step", "change_old")
        turn.say("utter_ask_old_personal_code")


class ActionForgotPersonalCode(TurnAction):
    """"glemt personlig kode": the fødselsnummer, then the reset's waiting period starts."""

    def name(self) -> str:
        return "action_forgot_personal_code"

    async def act(self, turn: Turn) -> None:
        fnr = find_fnr(turn)
        if fnr:
            await submit_reset(turn, fnr)
            return
        turn.set("login_step", "reset_fnr")
        turn.say("utter_ask_fnr_for_reset")
