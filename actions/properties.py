"""The properties journey (EIENDOM): what the citizen owns, and the property tax on it."""
from __future__ import annotations

from typing import Any, Dict, List

from actions.formatting import invoice_lines
from actions.portal_client import portal
from actions.turn import Turn, TurnAction

PROPERTY_TAX = "eiendomsskatt"


def property_lines(properties: List[Dict[str, Any]]) -> str:
    """One line per property: address, then gnr/bnr (with feste and seksjon when set)."""
    lines = []
    for item in properties:
        unit = f"gnr. {item['gnr']}/bnr. {item['bnr']}"
        if item.get("festenr"):
            unit += f"/fnr. {item['festenr']}"
        if item.get("seksjonsnr"):
            unit += f"/snr. {item['seksjonsnr']}"
        lines.append(f"{item['address']} ({unit}, kommune {item['kommunenr']})")
    return "\n".join(lines)


async def show_properties(turn: Turn) -> None:
    owned = (await portal.properties(turn.conversation))["properties"]
    if not owned:
        turn.say("utter_no_properties")
        return
    turn.say("utter_properties_list", count=len(owned), properties=property_lines(owned))
    unpaid = (await portal.invoices(turn.conversation, status="unpaid"))["invoices"]
    taxes = [item for item in unpaid if item["kind"] == PROPERTY_TAX]
    if taxes:
        turn.say("utter_property_tax", invoices=invoice_lines(taxes, turn.language))
    else:
        turn.say("utter_no_property_tax")


class ActionListProperties(TurnAction):
    requires_login = True

    def name(self) -> str:
        return "action_list_properties"

    async def act(self, turn: Turn) -> None:
        await show_properties(turn)
