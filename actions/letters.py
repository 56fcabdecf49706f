"""The inbox journey: list new letters (BREV) and read one (LES 1)."""
from __future__ import annotations

import re
from typing import Optional

from actions.formatting import letter_lines, long_date, pieces
from actions.portal_client import PortalError, portal
from actions.turn import Turn, TurnAction

LIST_SIZE = 9


async def show_letters(turn: Turn) -> None:
    data = await portal.letters(turn.conversation, limit=LIST_SIZE)
    letters = data["letters"]
    turn.set("letter_ids", [str(item["id"]) for item in letters])
    if not letters:
        turn.say("utter_no_letters")
    elif data["unread_count"]:
        turn.say("utter_letters_list", count=data["unread_count"],
                 letters=letter_lines(letters, turn.language))
    else:
        turn.say("utter_no_unread_letters", letters=letter_lines(letters, turn.language))


def requested_number(turn: Turn) -> Optional[int]:
    value = turn.entity("message_number") or turn.slot("message_number")
    if value is None:
        match = re.search(r"\b(\d{1,2})\b", turn.text)
        value = match.group(1) if match else None
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


async def letter_at(turn: Turn, number: int) -> Optional[int]:
    """The id of letter `number` of the list the citizen last saw (or of the inbox now);
    None, said as such, when the list has no such number."""
    ids = turn.slot("letter_ids")
    if not ids:
        data = await portal.letters(turn.conversation, limit=LIST_SIZE)
        ids = [str(item["id"]) for item in data["letters"]]
        turn.set("letter_ids", ids)
    if not 1 <= number <= len(ids):
        turn.say("utter_letter_not_found", number=number)
        return None
    return int(ids[number - 1])


async def read_letter(turn: Turn) -> None:
    number = requested_number(turn)
    turn.set("message_number", None)
    if number is None:
        await read_noticed_letter(turn)
        return
    letter_id = await letter_at(turn, number)
    if letter_id is None:
        return
    try:
        letter = await portal.read_letter(turn.conversation, letter_id)
    except PortalError as error:
        if error.code != "letter_not_found":
            raise
        turn.say("utter_letter_not_found", number=number)
        return
    show_letter(turn, letter)


async def read_noticed_letter(turn: Turn) -> None:
    """A reply LES to an SMS notice reads the letter the notice announced."""
    noticed = (await portal.noticed_letters(turn.conversation))["letters"]
    if not noticed:
        turn.say("utter_letter_which")
        return
    target = next((letter for letter in noticed if letter["unread"]), noticed[0])
    show_letter(turn, await portal.read_letter(turn.conversation, target["id"]))


def show_letter(turn: Turn, letter: dict) -> None:
    turn.say("utter_letter_header", title=letter["title"], sender=letter["sender_unit"],
             date=long_date(letter["sent_at"], turn.language))
    for piece in pieces(letter["body"]):
        turn.say_text(piece)
    if letter.get("first_read") and letter["status"] == "LEST":
        turn.say("utter_letter_marked_read")


class ActionListLetters(TurnAction):
    requires_login = True

    def name(self) -> str:
        return "action_list_letters"

    async def act(self, turn: Turn) -> None:
        await show_letters(turn)


class ActionReadLetter(TurnAction):
    requires_login = True

    def name(self) -> str:
        return "action_read_letter"

    async def act(self, turn: Turn) -> None:
        await read_letter(turn)
