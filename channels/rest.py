"""The demo REST channel: Rasa's RestInput, but its conversations are its own.

Rasa's RestInput puts a request without sender into the shared `default` conversation and
lets the client name any conversation id and input channel, so a client that knows a web
chat or SMS conversation id could write in it. Here a request must name a sender, the
sender always gets the `rest-` prefix (portal/conversation_ids.py), the input channel is
always `rest`, client metadata is dropped, and bad requests get a 400 with the portal's
error body. Enabled in the demo configuration only (bot/credentials.yml).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request

from portal.conversation_ids import PREFIX_OF
from portal.text_input import storable

log = logging.getLogger(__name__)

PREFIX = PREFIX_OF["rest"]
MAX_SENDER_CHARS = 64
MAX_MESSAGE_CHARS = 1000


def _refuse(message: str, code: str = "invalid_input") -> response.HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=400)


def conversation_of(sender: Any) -> Optional[str]:
    """The REST conversation a sender names, or None when the sender is not usable."""
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        return None
    return PREFIX + sender.strip()


class DemoRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rest = Blueprint("demo_rest_webhook", __name__)

        @rest.route("/", methods=["GET"])
        async def health(_: Request) -> response.HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> response.HTTPResponse:
            try:
                payload = request.json
            except InvalidUsage:
                payload = None
            if not isinstance(payload, dict):
                return _refuse("The body must be a JSON object.")
            conversation_id = conversation_of(payload.get("sender"))
            if conversation_id is None:
                return _refuse(f"A sender (1 to {MAX_SENDER_CHARS} characters) is required.",
                               "sender_required")
            text = payload.get("message")
            text = storable(text) if isinstance(text, str) else None
            if not text or not text.strip():
                return _refuse("A message is required.", "message_required")
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(
                    text[:MAX_MESSAGE_CHARS], collector, conversation_id,
                    input_channel=self.name(), metadata={}))
            except asyncio.CancelledError:
                log.error("rest turn timed out")
            except Exception:
                log.exception("rest turn failed")
            return response.json(collector.messages)

        return rest
