"""The web chat channel's client for the portal's conversation gateway (bearer GATEWAY_TOKEN).

The Rasa process never opens the portal database: it records messages and asks who answers
over this API (portal/api/conversations.py).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional

from actions.portal_client import PortalClient

GATEWAY = "/api/v1/gateway/webchat"


class PortalGateway(PortalClient):
    """Raises actions.portal_client.PortalUnavailable / PortalError like the actions' client."""

    def __init__(self, base_url: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = 4.0):
        super().__init__(base_url, token if token is not None
                         else os.environ.get("GATEWAY_TOKEN", ""), timeout)

    async def record_message(self, sender: str, text: str, message_id: str,
                             language: Optional[str] = None,
                             source: Optional[str] = None) -> Dict[str, Any]:
        """{message_id, new, route}: route "bot" runs the bot, "person" only records.
        `source`: the client's address, so one client's code requests count together."""
        call = {"sender": sender, "text": text, "message_id": message_id, "language": language}
        if source:
            call["source"] = source
        return await self.request("POST", f"{GATEWAY}/messages", json=call)

    async def post_replies(self, message_id: int, messages: List[Dict[str, Any]],
                           prediction: Optional[Dict[str, Any]]) -> List[int]:
        """The indexes of `messages` that may be shown."""
        answer = await self.request("POST", f"{GATEWAY}/messages/{message_id}/replies",
                                    json={"messages": messages, "prediction": prediction})
        return list(answer.get("send") or [])

    async def live(self, conversations: Iterable[str],
                   delivered: Iterable[int]) -> List[Dict[str, Any]]:
        answer = await self.request("POST", f"{GATEWAY}/live", json={
            "conversations": sorted(set(conversations)), "delivered": list(delivered)})
        return list(answer.get("messages") or [])
