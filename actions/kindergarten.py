"""The kindergarten journey: accept or decline an offered place, after a confirmation."""
from __future__ import annotations

from typing import Any, Dict, List

from actions import cases
from actions.formatting import long_date
from actions.portal_client import PortalError, portal
from actions.turn import Turn, TurnAction

ANSWER_OF_INTENT = {"accept_offer": "accept", "decline_offer": "decline"}
CONFIRM = {"accept": "utter_confirm_accept", "decline": "utter_confirm_decline"}
DONE = {"accept": "utter_offer_accepted", "decline": "utter_offer_declined"}
ANSWER_TEXT = {
    "ACCEPTED": {"nb": "takket ja", "nn": "takka ja", "en": "accepted"},
    "DECLINED": {"nb": "takket nei", "nn": "takka nei", "en": "declined"},
}


def _offer_values(offer: Dict[str, Any], language: str) -> Dict[str, str]:
    return {"child": offer["child_name"].split()[0], "kindergarten": offer["kindergarten"],
            "start_date": long_date(offer["start_date"], language),
            "deadline": long_date(offer["deadline"], language)}


async def mention_open_offer(turn: Turn) -> None:
    """After login: an open offer and its deadline, so the citizen can answer at once."""
    offers = (await portal.offers(turn.conversation, open_only=True))["offers"]
    for offer in offers:
        turn.say("utter_offer_open", **_offer_values(offer, turn.language))


def _chosen(offers: List[Dict[str, Any]], turn: Turn) -> List[Dict[str, Any]]:
    wanted = turn.entity("offer_id")
    if wanted:
        return [offer for offer in offers if str(offer["id"]) == str(wanted)]
    return offers


async def _explain_no_open_offer(turn: Turn, answer: str) -> None:
    offers = (await portal.offers(turn.conversation, open_only=False))["offers"]
    answered = [o for o in offers if o["status"] in ANSWER_TEXT]
    if answered:
        latest = max(answered, key=lambda o: o["answered_at"] or "")
        same = latest["status"] == ("ACCEPTED" if answer == "accept" else "DECLINED")
        if same:
            turn.say("utter_offer_already_answered",
                     answer_text=ANSWER_TEXT[latest["status"]][turn.language])
        else:
            turn.say("utter_offer_contradicts")
    elif any(o["status"] == "EXPIRED" for o in offers):
        expired = max((o for o in offers if o["status"] == "EXPIRED"), key=lambda o: o["deadline"])
        turn.say("utter_offer_past_deadline", deadline=long_date(expired["deadline"], turn.language))
    else:
        turn.say("utter_no_open_offer")


async def start_answer(turn: Turn) -> None:
    """Restates the offer and asks for a JA before anything is sent to the portal."""
    answer = ANSWER_OF_INTENT.get(turn.intent) or turn.slot("pending_offer_answer") or "accept"
    offers = _chosen((await portal.offers(turn.conversation, open_only=True))["offers"], turn)
    if not offers:
        await _explain_no_open_offer(turn, answer)
        return
    if len(offers) > 1:
        intent = "accept_offer" if answer == "accept" else "decline_offer"
        buttons = [{"title": f"{o['kindergarten']} ({o['child_name'].split()[0]})",
                    "payload": f'/{intent}{{"offer_id":"{o["id"]}"}}'} for o in offers]
        turn.say("utter_offer_which")
        turn.dispatcher.utter_message(buttons=buttons)
        return
    offer = offers[0]
    turn.set("pending_offer_answer", answer)
    turn.set("pending_offer_id", str(offer["id"]))
    turn.say(CONFIRM[answer], **_offer_values(offer, turn.language))


async def confirm_answer(turn: Turn) -> None:
    answer, offer_id = turn.slot("pending_offer_answer"), turn.slot("pending_offer_id")
    turn.set("pending_offer_answer", None)
    turn.set("pending_offer_id", None)
    try:
        result = await portal.answer_offer(turn.conversation, int(offer_id), answer)
    except PortalError as error:
        if error.code == "offer_already_answered":
            turn.say("utter_offer_contradicts")
        elif error.code == "offer_deadline_passed":
            turn.say("utter_offer_past_deadline",
                     deadline=long_date(error.details["deadline"], turn.language))
        elif error.code == "offer_not_found":
            turn.say("utter_no_open_offer")
        else:
            raise
        return
    if result["already_answered"]:
        turn.say("utter_offer_already_answered",
                 answer_text=ANSWER_TEXT[result["offer"]["status"]][turn.language])
    else:
        turn.say(DONE[answer])


class ActionAnswerOffer(TurnAction):
    requires_login = True

    def name(self) -> str:
        return "action_answer_offer"

    async def act(self, turn: Turn) -> None:
        if turn.slot(cases.PENDING):  # JA TAKK / NEI TAKK to a restated message
            await (cases.send(turn) if turn.intent == "accept_offer" else cases.discard(turn))
            return
        await start_answer(turn)
