"""Talking to a person, the fallback ladder (rephrase once, then offer a person), JA and NEI."""
from __future__ import annotations

from actions import cases, deletion
from actions.formatting import opening_time
from actions.kindergarten import confirm_answer
from actions.login import on_personal_code_step
from actions.personal_code import cancel_reset, says_no_personal_code
from actions.portal_client import portal
from actions.turn import Turn, TurnAction

HANDOFF_OFFERED = 2.0


async def hand_off(turn: Turn, reason: str) -> None:
    """Queues the conversation for a person; outside opening hours the citizen hears when the
    caseworkers are back, and that a message can be left now."""
    queued = await portal.request_handoff(turn.conversation, reason)
    if queued.get("open_now") is False and queued.get("next_open"):
        turn.say("utter_handoff_after_hours",
                 when=opening_time(queued["next_open"], turn.language))
    else:
        turn.say("utter_handoff_recorded")


class ActionHandoff(TurnAction):
    def name(self) -> str:
        return "action_handoff"

    async def act(self, turn: Turn) -> None:
        await hand_off(turn, "citizen_request")


class ActionFallback(TurnAction):
    keeps_fallback_count = True

    def name(self) -> str:
        return "action_fallback"

    async def act(self, turn: Turn) -> None:
        # A code (or INGEN) the NLU did not recognise as one, at a step that waits for it.
        if (any(ch.isdigit() for ch in turn.text) or says_no_personal_code(turn)) and \
                await on_personal_code_step(turn):
            return
        count = (turn.slot("fallback_count") or 0.0) + 1
        turn.set("fallback_count", min(count, HANDOFF_OFFERED))
        turn.say("utter_ask_rephrase" if count < HANDOFF_OFFERED else "utter_offer_handoff")


class ActionAffirm(TurnAction):
    """JA: confirms a pending deletion, message to the municipality or offer answer, or
    accepts the offered person."""

    def name(self) -> str:
        return "action_affirm"

    async def act(self, turn: Turn) -> None:
        if deletion.pending(turn):
            await deletion.erase(turn)
        elif turn.slot(cases.PENDING):
            await cases.send(turn)
        elif turn.slot("pending_offer_answer") and turn.slot("pending_offer_id"):
            if not turn.logged_in:
                turn.ask_login(resume="accept_offer")
                return
            await confirm_answer(turn)
        elif (turn.slot("fallback_count") or 0) >= HANDOFF_OFFERED:
            await hand_off(turn, "not_understood")
        else:
            turn.say("utter_nothing_to_confirm")


class ActionDeny(TurnAction):
    """NEI: cancels a pending deletion, message to the municipality or offer answer, a waiting
    reset of the personal code (AVBRYT from the registered mobile), or declines the offered
    person."""

    def name(self) -> str:
        return "action_deny"

    async def act(self, turn: Turn) -> None:
        if deletion.pending(turn):
            deletion.keep(turn)
        elif turn.slot(cases.PENDING):
            await cases.discard(turn)
        elif turn.slot("pending_offer_answer"):
            turn.set("pending_offer_answer", None)
            turn.set("pending_offer_id", None)
            turn.say("utter_offer_cancelled")
        elif await cancel_reset(turn):
            return
        elif (turn.slot("fallback_count") or 0) >= HANDOFF_OFFERED:
            turn.say("utter_help")
        else:
            turn.say("utter_nothing_to_confirm")
