"""The invoices journey: what is owed (FAKTURA), and paid invoices on request."""
from __future__ import annotations

from actions.formatting import invoice_lines
from actions.portal_client import portal
from actions.turn import Turn, TurnAction


async def show_invoices(turn: Turn) -> None:
    if turn.intent == "show_paid_invoices" or turn.slot("pending_intent") == "show_paid_invoices":
        paid = (await portal.invoices(turn.conversation, status="paid"))["invoices"]
        if paid:
            turn.say("utter_paid_invoices_list", invoices=invoice_lines(paid, turn.language))
        else:
            turn.say("utter_no_paid_invoices")
        return
    data = await portal.invoices(turn.conversation, status="unpaid")
    if not data["invoices"]:
        turn.say("utter_no_unpaid_invoices")
        return
    turn.say("utter_invoices_list", count=len(data["invoices"]),
             invoices=invoice_lines(data["invoices"], turn.language),
             total=data["unpaid_total_text"])


class ActionListInvoices(TurnAction):
    requires_login = True

    def name(self) -> str:
        return "action_list_invoices"

    async def act(self, turn: Turn) -> None:
        await show_invoices(turn)
