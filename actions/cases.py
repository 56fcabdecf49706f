"""Writing to the municipality: SKRIV TIL KOMMUNEN (or SVAR PÅ BREV 2), the message itself
through case_form, the restatement, and JA to send or NEI to delete the draft."""
from __future__ import annotations

import re
from typing import Optional

from actions.formatting import opening_time
from actions.letters import letter_at, requested_number
from actions.portal_client import PortalError, portal
from actions.turn import Turn, TurnAction

FORM = "case_form"
PENDING = "pending_case"
LETTER_WORD = re.compile(r"\b(brev|brevet|letter)\b", re.IGNORECASE)
CANCEL = {"avbryt", "stopp", "stop", "cancel", "angre", "nei", "no", "nei takk"}
SHOWN = 300  # characters of the message restated; a longer one is cut with "…"
ABOUT = {"nb": " som svar på «{}»", "nn": " som svar på «{}»", "en": " in reply to “{}”"}


def _letter_number(turn: Turn) -> Optional[int]:
    """SVAR PÅ BREV 2: the number counts only when the message names a letter."""
    return requested_number(turn) if LETTER_WORD.search(turn.text) else None


def _forget_draft(turn: Turn) -> None:
    for name in ("case_text", "case_letter_id", "case_letter_number", PENDING):
        turn.set(name, None)


async def start(turn: Turn, number: Optional[int]) -> None:
    """Opens case_form, which asks for the message (action_ask_case_text)."""
    letter_id = await letter_at(turn, number) if number is not None else None
    if number is not None and letter_id is None:
        return
    _forget_draft(turn)
    turn.set("case_letter_id", str(letter_id) if letter_id else None)
    turn.set("case_letter_number", str(number) if letter_id else None)
    turn.open_form(FORM)


async def resume(turn: Turn) -> None:
    """After the login that SKRIV TIL KOMMUNEN waited for."""
    number = turn.slot("case_letter_number")
    await start(turn, int(number) if number else None)


def restated(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN else text[:SHOWN - 1].rstrip() + "…"


async def send(turn: Turn) -> None:
    """The JA: the draft goes to the caseworkers' queue."""
    case_id = int(turn.slot(PENDING))
    _forget_draft(turn)
    try:
        sent = await portal.send_case(turn.conversation, case_id)
    except PortalError as error:
        if error.code != "case_sent":
            raise
        turn.say("utter_case_already_sent")
        return
    if sent.get("open_now") or not sent.get("next_open"):
        turn.say("utter_case_sent")
    else:
        turn.say("utter_case_sent_closed", when=opening_time(sent["next_open"], turn.language))


async def discard(turn: Turn) -> None:
    """The NEI: the draft is deleted unsent."""
    case_id = int(turn.slot(PENDING))
    _forget_draft(turn)
    try:
        await portal.discard_case(turn.conversation, case_id)
    except PortalError as error:
        if error.code == "case_sent":
            turn.say("utter_case_already_sent")
            return
        if error.code != "case_not_found":
            raise
    turn.say("utter_case_cancelled")


class ActionWriteCase(TurnAction):
    def name(self) -> str:
        return "action_write_case"

    async def act(self, turn: Turn) -> None:
        number = _letter_number(turn)
        turn.set("message_number", None)
        if not turn.logged_in and not await turn.recall_login():
            turn.set("case_letter_number", str(number) if number else None)
            turn.ask_login(resume="write_to_municipality")
            return
        await start(turn, number)


class ActionAskCaseText(TurnAction):
    """case_form's question for its one slot."""

    def name(self) -> str:
        return "action_ask_case_text"

    async def act(self, turn: Turn) -> None:
        number = turn.slot("case_letter_number")
        if number:
            turn.say("utter_ask_case_reply", number=number)
        else:
            turn.say("utter_ask_case_text")


class ActionConfirmCase(TurnAction):
    """After case_form: the message is filed as a draft and restated for a JA or NEI. Its words
    are read here, in the turn they arrive: the bot's store keeps only redacted text."""

    asks = PENDING
    resumes = "write_to_municipality"  # the login expired while writing: ask again after it

    def name(self) -> str:
        return "action_confirm_case"

    async def act(self, turn: Turn) -> None:
        text = (turn.slot("case_text") or "").replace("\x00", "").strip()
        turn.set("case_text", None)
        turn.set("message_number", None)
        if text.lower().strip(" .!") in CANCEL | {""}:
            _forget_draft(turn)
            turn.say("utter_case_cancelled")
            return
        letter_id = turn.slot("case_letter_id")
        try:
            draft = await portal.draft_case(turn.conversation, text,
                                            int(letter_id) if letter_id else None)
        except PortalError as error:
            if error.code != "message_too_long":
                raise
            turn.say("utter_case_too_long", max_length=error.details.get("max_length", 1500))
            turn.open_form(FORM)
            return
        turn.set(PENDING, str(draft["id"]))
        title = draft.get("reply_to_title")
        turn.say("utter_confirm_case", quotes_citizen=True, text=restated(text),
                 about=ABOUT.get(turn.language, ABOUT["nb"]).format(title) if title else "")
