"""Deleting one's own conversation: ask for a JA, then erase it everywhere through the portal."""
from __future__ import annotations

from actions.portal_client import PortalError, portal
from actions.turn import Turn, TurnAction

PENDING = "pending_deletion"
ERASED = "conversation_erased"  # the tracker store drops the stored events (tracker_store.py)


def pending(turn: Turn) -> bool:
    return bool(turn.slot(PENDING))


async def erase(turn: Turn) -> None:
    """After the JA: the portal erases the conversation's content and ends its login."""
    turn.set(PENDING, False)
    try:
        erased = await portal.erase_conversation(turn.conversation)
    except PortalError as error:
        if error.code != "conversation_on_hold":
            raise
        turn.say("utter_deletion_on_hold")
        return
    turn.forget_session()
    turn.set("login_step", None)
    turn.set("pending_intent", None)
    turn.set(ERASED, erased["erased_at"])
    turn.say("utter_conversation_deleted")


def keep(turn: Turn) -> None:
    """After the NEI: nothing is deleted."""
    turn.set(PENDING, False)
    turn.say("utter_deletion_cancelled")


class ActionAskDeleteConversation(TurnAction):
    asks = PENDING

    def name(self) -> str:
        return "action_ask_delete_conversation"

    async def act(self, turn: Turn) -> None:
        turn.set(PENDING, True)
        turn.set("pending_offer_answer", None)
        turn.set("pending_offer_id", None)
        turn.say("utter_confirm_delete")
