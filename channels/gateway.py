"""The internal channel the turn workers run turns through: authenticated and idempotent.

Rasa's REST channel trusts whatever sender id a request names; this one requires the gateway
token (`Authorization: Bearer $GATEWAY_TOKEN`), accepts only senders of the named channel's
prefix, and runs a message id at most once: if the tracker already holds a UserUttered with
this message id (the worker died after Rasa ran the turn, before the portal committed), the
turn is not run again and the bot utterances that followed it are returned.

POST /webhooks/gateway/turn {sender, message, message_id, channel}
  -> {messages: [{text, buttons, action}], prediction: {intent, confidence, entities},
      replayed}
"""
from __future__ import annotations

import hmac
import logging
import os
from typing import Any, Dict, List, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request

from portal import correlation
from portal.privacy import QUOTES_CITIZEN

log = logging.getLogger(__name__)

PREFIXES = {"sms": "sms-", "webchat": "web-"}
MAX_MESSAGE_CHARS = 1600


def _error(status: int, code: str, message: str):
    return response.json({"error": {"code": code, "message": message}}, status=status)


def turn_of(events: List[Any], message_id: str) -> Optional[Dict[str, Any]]:
    """The prediction of the UserUttered with `message_id` and the bot messages that followed
    it (each with the action that produced it); None when the message is not in the events."""
    start = next((i for i, e in enumerate(events)
                  if isinstance(e, UserUttered) and e.message_id == message_id), None)
    if start is None:
        return None
    parse = events[start].parse_data or {}
    messages, action = [], None
    for event in events[start + 1:]:
        if isinstance(event, UserUttered):
            break
        if isinstance(event, ActionExecuted):
            action = event.action_name
        elif isinstance(event, BotUttered):
            messages.append({"text": event.text, "buttons": (event.data or {}).get("buttons"),
                             "action": action,
                             QUOTES_CITIZEN: bool((event.metadata or {}).get(QUOTES_CITIZEN))})
    intent = parse.get("intent") or {}
    return {"messages": messages, "prediction": {
        "intent": intent.get("name"), "confidence": intent.get("confidence"),
        "entities": sorted({e.get("entity") for e in parse.get("entities") or []
                            if e.get("entity")})}}


def with_actions(sent: List[Dict[str, Any]], done: Optional[Dict[str, Any]]) -> List[Dict]:
    """The messages a turn sent (unmasked, as collected), each with the action that produced
    it, read from the tracker; a message the tracker does not list gets the turn's last
    action."""
    done_messages = [m for m in (done or {}).get("messages", []) if m.get("action")]
    actions = [m["action"] for m in done_messages]
    quoting = any(m.get(QUOTES_CITIZEN) for m in done_messages)
    messages = [m for m in sent if m.get("text") or m.get("buttons")]
    return [{"text": m.get("text") or "", "buttons": m.get("buttons"),
             "action": actions[i] if i < len(actions) else (actions[-1] if actions else None),
             # Counted safe: any reply of a turn that quotes the citizen is masked as theirs.
             QUOTES_CITIZEN: quoting}
            for i, m in enumerate(messages)]


class GatewayInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "gateway"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(token=credentials.get("token") or os.environ.get("GATEWAY_TOKEN") or "")

    def __init__(self, token: str):
        if len(token) < 16:
            raise ValueError("the gateway channel needs a token of at least 16 characters")
        self.token = token.encode()

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), self.token)

    def blueprint(self, on_new_message) -> Blueprint:
        gateway = Blueprint("gateway_webhook", __name__)

        @gateway.route("/", methods=["GET"])
        async def health(_: Request):
            return response.json({"status": "ok"})

        @gateway.route("/metrics", methods=["GET"])
        async def scrape(request: Request):
            """This Rasa server's Prometheus metrics (bearer METRICS_TOKEN)."""
            from channels import observe
            from portal import metrics

            if not metrics.authorized(request.headers.get("Authorization"),
                                      metrics.metrics_token()):
                return _error(401, "invalid_token", "A valid metrics bearer token is required.")
            observe.model_gauge(request.app.ctx.agent)
            body, content_type = metrics.exposition()
            return response.raw(body, content_type=content_type)

        @gateway.listener("after_server_start")
        async def structured_logs(_app, _loop):
            from channels import observe

            observe.restyle_sanic()

        @gateway.route("/turn", methods=["POST"])
        async def turn(request: Request):
            if not self._authorized(request):
                return _error(401, "invalid_token", "A valid bearer token is required.")
            body = request.json if isinstance(request.json, dict) else {}
            sender, text = body.get("sender"), body.get("message")
            message_id, channel = body.get("message_id"), body.get("channel")
            given = correlation.valid(body.get("correlation_id")
                                      or request.headers.get(correlation.HEADER))
            if not all(isinstance(v, str) and v for v in (sender, message_id, channel)) \
                    or not isinstance(text, str):
                return _error(400, "invalid_input",
                              "sender, message, message_id and channel are required.")
            if channel not in PREFIXES or not sender.startswith(PREFIXES[channel]):
                return _error(403, "invalid_sender", "The sender is not of this channel.")
            agent = request.app.ctx.agent
            if not agent.is_ready():
                return _error(503, "not_ready", "The bot has no model loaded yet.")
            async with agent.lock_store.lock(sender):
                tracker = await agent.tracker_store.retrieve(sender)
                done = turn_of(list(tracker.events), message_id) if tracker else None
                if done is not None:
                    return response.json({**done, "replayed": True})
                collector = CollectingOutputChannel()
                await agent.processor.handle_message(UserMessage(
                    text[:MAX_MESSAGE_CHARS], collector, sender, input_channel=channel,
                    message_id=message_id,
                    metadata={correlation.METADATA_KEY: given} if given else {}))
                tracker = await agent.tracker_store.retrieve(sender)
            done = turn_of(list(tracker.events), message_id) if tracker else None
            # The sent texts, unmasked (the tracker store keeps masked copies).
            return response.json({"messages": with_actions(collector.messages, done),
                                  "prediction": (done or {}).get("prediction") or {},
                                  "replayed": False})

        return gateway
