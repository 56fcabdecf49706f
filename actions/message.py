"""Writing to the municipality: message_form takes the text, the bot restates it, JA sends it.

"svar på brev 2" replies to the second letter of the inbox list. Nothing reaches the portal
before the citizen's JA; an empty, too long or cancelled message changes nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional
from zoneinfo import ZoneInfo

from rasa_sdk.events import FollowupAction

from actions.formatting import long_date
from actions.letters import LIST_SIZE
from actions.portal_client import PortalError, portal
from actions.responses import render
from actions.turn import Turn, TurnAction

MAX_LENGTH = 1500  # the portal's limit (portal/services/cases.py MAX_BODY)
CANCEL_WORDS = {"nei", "no", "avbryt", "cancel", "stopp skriving"}
CASE_SLOTS = ("case_text", "case_letter_id", "case_letter_title", "case_state")
TIMEZONE = ZoneInfo("Europe/Oslo")
AT = {"nb": "kl.", "nn": "kl.", "en": "at"}


def when_text(moment: Optional[str], language: str) -> str:
    """'2. desember 2026 kl. 08:00' (Norwegian time) for an ISO moment."""
    local = datetime.fromisoformat(moment).astimezone(TIMEZONE)
    return f"{long_date(local.date().isoformat(), language)} {AT.get(language, 'kl.')} " \
           f"{local:%H:%M}"


def queue_sentence(turn: Turn, answer: dict) -> str:
    """Open now, or when an answer can be expected at the earliest."""
    if answer.get("open_now") or not answer.get("next_open"):
        return render(turn.domain, "utter_queue_open_now", turn.language)["text"]
    return render(turn.domain, "utter_queue_opens", turn.language,
                  opens=when_text(answer["next_open"], turn.language))["text"]


def forget_case(turn: Turn) -> None:
    for name in CASE_SLOTS:
        turn.set(name, None)


def _number(turn: Turn) -> Optional[int]:
    value = turn.entity("message_number")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def _letter_replied_to(turn: Turn) -> bool:
    """Sets the letter of "svar på brev N"; False (and says so) when there is no such letter."""
    number = _number(turn)
    if number is None:
        return True
    ids = turn.slot("letter_ids")
    letters = None
    if not ids:
        letters = (await portal.letters(turn.conversation, limit=LIST_SIZE))["letters"]
        ids = [str(item["id"]) for item in letters]
        turn.set("letter_ids", ids)
    if not 1 <= number <= len(ids):
        turn.say("utter_case_letter_not_found", number=number)
        return False
    if letters is None:
        letters = (await portal.letters(turn.conversation, limit=LIST_SIZE))["letters"]
    letter = next((item for item in letters if str(item["id"]) == ids[number - 1]), None)
    if letter is None:  # the list moved on since it was shown
        turn.say("utter_case_letter_not_found", number=number)
        return False
    turn.set("case_letter_id", str(letter["id"]))
    turn.set("case_letter_title", letter["title"])
    turn.say("utter_case_replying_to", title=letter["title"])
    return True


async def start_writing(turn: Turn) -> bool:
    """At activation: True when the form should ask for the text."""
    forget_case(turn)
    turn.set("pending_offer_answer", None)
    turn.set("pending_offer_id", None)
    if not turn.logged_in:
        turn.ask_login(resume="write_to_municipality")
        return False
    return await _letter_replied_to(turn)


async def resume_writing(turn: Turn) -> None:
    """After the login it waited for: message_form starts again (and asks for the text)."""
    turn.events.append(FollowupAction("message_form"))


def check_text(turn: Turn, text: str) -> Optional[str]:
    """The text to restate, or None (and the reason said) when it cannot be sent."""
    body = text.strip()
    if body.lower().strip(".! ") in CANCEL_WORDS:
        turn.set("case_state", "cancelled")
        return None
    if not body:
        turn.say("utter_case_empty")
        return None
    if len(body) > MAX_LENGTH:
        turn.say("utter_case_too_long", length=len(body), max_length=MAX_LENGTH)
        return None
    return body


class ValidateMessageForm(TurnAction):
    """message_form's validation: login and letter at activation, then the text."""

    keeps_fallback_count = True

    def name(self) -> str:
        return "validate_message_form"

    async def act(self, turn: Turn) -> None:
        if turn.tracker.get_slot("requested_slot") is None:
            if not await start_writing(turn):
                turn.set("requested_slot", None)  # stops the form at once
            return
        extracted = turn.tracker.slots_to_validate().get("case_text")
        if extracted is None:
            return
        body = check_text(turn, str(extracted))
        if body is None and turn.slot("case_state") == "cancelled":
            turn.set("case_text", None)
            turn.set("requested_slot", None)
        else:
            turn.set("case_text", body)  # None: the form asks again


class ActionConfirmMessage(TurnAction):
    """After message_form: restates the message and asks for JA, or says it was cancelled."""

    def name(self) -> str:
        return "action_confirm_message"

    async def act(self, turn: Turn) -> None:
        if turn.slot("case_state") == "cancelled":
            forget_case(turn)
            turn.say("utter_case_cancelled")
            return
        text = turn.slot("case_text")
        if not text:
            return  # stopped at once: a login or the missing letter was asked about
        title = turn.slot("case_letter_title")
        about = {"en": f" (reply to “{title}”)"}.get(turn.language, f" (svar på «{title}»)") \
            if title else ""
        turn.set("case_state", "confirming")
        turn.say("utter_confirm_case", text=text, about=about)


async def send_case(turn: Turn) -> None:
    """JA to a restated message: files it in the caseworker queue."""
    letter_id = turn.slot("case_letter_id")
    try:
        case = await portal.write_case(turn.conversation, turn.slot("case_text") or "",
                                       int(letter_id) if letter_id else None)
    except PortalError as error:
        if error.code == "letter_not_found":
            forget_case(turn)
            turn.say("utter_case_letter_not_found", number="?")
            return
        if error.code in ("empty_message", "message_too_long"):
            forget_case(turn)
            turn.say("utter_case_too_long" if error.code == "message_too_long"
                     else "utter_case_empty", length=len(turn.slot("case_text") or ""),
                     max_length=MAX_LENGTH)
            return
        raise
    forget_case(turn)
    turn.say("utter_case_sent", case_id=case["id"], when=queue_sentence(turn, case))


def cancel_case(turn: Turn) -> None:
    forget_case(turn)
    turn.say("utter_case_cancelled")


def case_pending(turn: Turn) -> bool:
    return turn.slot("case_state") == "confirming" and bool(turn.slot("case_text"))

