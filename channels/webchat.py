"""The web chat channel: socket.io with conversation ids issued and signed by the server.

Rasa's own socket.io channel lets the browser choose its session id, so anyone who learns
or guesses an id can open that conversation. Here the server creates every conversation id
and hands the browser a signed ticket to resume it after a reload; ids the browser sends
with its messages are ignored.

Every message is recorded through the portal's conversation service (over its HTTP API,
channels/portal_gateway.py), which says who answers BEFORE the bot runs: while a person
owns the conversation the bot (and NLU) never sees the message. Bot replies are posted back
and only those the portal allows are shown. A person's messages reach the open browser
live: the channel polls the portal for them about once a second, one request for all its
connected conversations.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import secrets
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple
from urllib.parse import urlencode

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from socketio import AsyncServer

from actions.portal_client import PortalError, PortalUnavailable
from channels.gateway import turn_of, with_actions
from channels.portal_gateway import PortalGateway
from portal import webchat_tickets as tickets
from portal.text_input import storable

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "webchat_static"
MAX_MESSAGE_CHARS = 1000
LIVE_POLL_SECONDS = 1.0


def readable(text: Any) -> bool:
    """A message worth a turn: a string with more than whitespace that UTF-8 can encode (a
    forged client can send a lone UTF-16 surrogate, which no store can keep)."""
    if not isinstance(text, str) or not storable(text).strip():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def client_address(environ: Optional[Dict[str, Any]]) -> Optional[str]:
    """The browser's address: Sanic's `remote_addr` where its proxy settings trust a
    forwarding header (SANIC_PROXIES_COUNT, SANIC_REAL_IP_HEADER), else the peer's."""
    request = (environ or {}).get("sanic.request")
    if request is None:
        return None
    return request.remote_addr or request.ip or None


class WebChatOutput(SocketIOOutput):
    """Rasa's socket.io output, each message marked with the language it is written in."""

    def __init__(self, sio: AsyncServer, language: str = "nb"):
        super().__init__(sio, "bot_uttered")
        self.language = language

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        await super()._send_message(socket_id, {**response, "lang": self.language})


class WebChatInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        origins = [o.strip() for o in (os.environ.get("WEBCHAT_ORIGINS") or "").split(",")
                   if o.strip()]
        return cls(secret=credentials.get("secret") or "",
                   idporten_login_url=os.environ.get("IDPORTEN_LOGIN_URL") or None,
                   allowed_origins=origins or None)

    def __init__(self, secret: str, socketio_path: str = "/socket.io",
                 gateway: Optional[PortalGateway] = None,
                 idporten_login_url: Optional[str] = None,
                 allowed_origins: Optional[List[str]] = None):
        if len(secret) < 16:
            raise ValueError("the web chat needs a secret of at least 16 characters")
        self.secret = secret.encode()
        self.socketio_path = socketio_path
        self.sio: Optional[AsyncServer] = None
        self.conversations: Dict[str, str] = {}  # socket id -> conversation id
        self.sources: Dict[str, str] = {}  # socket id -> the client's address
        self.gateway = gateway or PortalGateway()
        self.delivered: list = []  # person messages shown, to confirm on the next poll
        self.poller: Optional[asyncio.Task] = None
        # The portal's /idporten/login, when ID-porten login is configured (else no button).
        self.idporten_login_url = idporten_login_url
        # Browsers may open the socket only from these origins (WEBCHAT_ORIGINS); None: only
        # from the origin that serves the chat page.
        self.allowed_origins = allowed_origins

    def ticket(self, conversation_id: str) -> str:
        return tickets.ticket(self.secret, conversation_id)

    def conversation_of_ticket(self, ticket: Any) -> Optional[str]:
        """The conversation a ticket resumes, if the server signed it."""
        return tickets.conversation_of_ticket(self.secret, ticket)

    async def poll_live(self) -> None:
        """Shows person and system messages of connected conversations as they come."""
        while True:
            await asyncio.sleep(LIVE_POLL_SECONDS)
            if self.sio is None or not (self.conversations or self.delivered):
                continue
            try:
                messages = await self.gateway.live(self.conversations.values(), self.delivered)
                self.delivered = []
            except (PortalUnavailable, PortalError) as exc:
                log.warning("live messages not fetched: %s", exc)
                continue
            for message in messages:
                if message["conversation"] not in self.conversations.values():
                    continue  # the browser left: stays pending until it is back
                await self.sio.emit("bot_uttered", {
                    "text": message["text"], "author": message["author"],
                    "name": message.get("name"), "lang": message.get("lang") or "nb"},
                    room=message["conversation"])
                self.delivered.append(message["id"])

    async def handle(self, on_new_message, sid: str, conversation_id: str, text: str) -> None:
        """Records the message, runs the bot only if it answers, shows what may be shown."""
        sio, message_id = self.sio, uuid.uuid4().hex
        try:
            recorded = await self.gateway.record_message(conversation_id, text, message_id,
                                                         source=self.sources.get(sid))
        except (PortalUnavailable, PortalError) as exc:
            log.warning("web chat message not recorded: %s", exc)
            await sio.emit("chat_error", {"code": "unavailable"}, room=sid)
            return
        if recorded.get("route") != "bot" or not recorded.get("new", True):
            return  # a person answers (or it was handled already)
        collector = CollectingOutputChannel()
        await on_new_message(UserMessage(text, collector, conversation_id,
                                         input_channel=self.name(), message_id=message_id,
                                         metadata={}))
        sent = [m for m in collector.messages if m.get("text") or m.get("buttons")]
        done, language = await self._turn(conversation_id, message_id)
        replies = with_actions(sent, done)
        try:
            allowed = await self.gateway.post_replies(
                recorded["message_id"], replies, (done or {}).get("prediction"))
        except (PortalUnavailable, PortalError) as exc:
            log.warning("web chat replies not recorded; not shown: %s", exc)
            await sio.emit("chat_error", {"code": "unavailable"}, room=sid)
            return
        output = WebChatOutput(sio, language)
        for index in allowed:
            message = dict(sent[index])
            message.pop("recipient_id", None)
            await output.send_response(conversation_id, message)

    async def _turn(self, conversation_id: str, message_id: str) -> Tuple[Optional[Dict], str]:
        """What the bot made of the message, and the language it answered in."""
        agent = getattr(getattr(self, "app", None) and self.app.ctx, "agent", None)
        tracker = agent and await agent.tracker_store.retrieve(conversation_id)
        if not tracker:
            return None, "nb"
        return (turn_of(list(tracker.events), message_id),
                tracker.get_slot("language") or "nb")

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WebChatOutput(self.sio) if self.sio else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.allowed_origins)
        self.sio = sio
        webchat = SocketBlueprint(sio, self.socketio_path, "webchat_webhook", __name__)

        @webchat.listener("after_server_start")
        async def start_polling(app, _loop) -> None:
            self.app = app
            self.poller = asyncio.get_running_loop().create_task(self.poll_live())

        @webchat.listener("before_server_stop")
        async def stop_polling(_app, _loop) -> None:
            if self.poller is not None:
                self.poller.cancel()
            await self.gateway.close()

        @webchat.route("/", methods=["GET"])
        async def page(_: Request):
            return await response.file(STATIC / "index.html",
                                        headers={"Cache-Control": "no-store"})

        @webchat.route("/static/<name>", methods=["GET"])
        async def static(_: Request, name: str):
            path = (STATIC / name).resolve()
            if path.parent != STATIC or not path.is_file():
                return response.json({"error": {"code": "not_found",
                                                 "message": "No such file."}}, status=404)
            return await response.file(path)

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None, *_more: Any) -> None:
            ticket = data.get("ticket") if isinstance(data, dict) else None
            resumed = self.conversation_of_ticket(ticket)
            conversation_id = resumed or f"web-{secrets.token_urlsafe(18)}"
            self.conversations[sid] = conversation_id
            self.sources[sid] = client_address(sio.get_environ(sid))
            entered = sio.enter_room(sid, conversation_id)
            if inspect.isawaitable(entered):  # a coroutine in newer python-socketio
                await entered
            ticket = self.ticket(conversation_id)
            confirm = {"session_id": conversation_id, "ticket": ticket,
                       "resumed": bool(resumed)}
            if self.idporten_login_url:
                confirm["idporten_login"] = (f"{self.idporten_login_url}?"
                                             f"{urlencode({'ticket': ticket})}")
            await sio.emit("session_confirm", confirm, room=sid)

        @sio.on("disconnect")
        async def disconnect(sid: str) -> None:
            self.conversations.pop(sid, None)
            self.sources.pop(sid, None)

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: Any = None, *_more: Any) -> None:
            conversation_id = self.conversations.get(sid)
            text = data.get("message") if isinstance(data, dict) else None
            if conversation_id is None:
                await sio.emit("chat_error", {"code": "no_session"}, room=sid)
                return
            if not readable(text):
                await sio.emit("chat_error", {"code": "invalid_text"}, room=sid)
                return
            await self.handle(on_new_message, sid, conversation_id,
                              storable(text)[:MAX_MESSAGE_CHARS])

        return webchat
