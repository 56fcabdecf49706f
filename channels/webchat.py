"""The web chat channel: socket.io with conversation ids issued and signed by the server.

Rasa's own socket.io channel lets the browser choose its session id, so anyone who learns
or guesses an id can open that conversation. Here the server creates every conversation id
and hands the browser a signed ticket to resume it after a reload; ids the browser sends
with its messages are ignored.
"""
from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from socketio import AsyncServer

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "webchat_static"
MAX_MESSAGE_CHARS = 1000


class WebChatInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(secret=credentials.get("secret") or "")

    def __init__(self, secret: str, socketio_path: str = "/socket.io"):
        if len(secret) < 16:
            raise ValueError("the web chat needs a secret of at least 16 characters")
        self.secret = secret.encode()
        self.socketio_path = socketio_path
        self.sio: Optional[AsyncServer] = None
        self.conversations: Dict[str, str] = {}  # socket id -> conversation id

    def _sign(self, conversation_id: str) -> str:
        return hmac.new(self.secret, conversation_id.encode(), hashlib.sha256).hexdigest()

    def ticket(self, conversation_id: str) -> str:
        return f"{conversation_id}.{self._sign(conversation_id)}"

    def conversation_of_ticket(self, ticket: Any) -> Optional[str]:
        """The conversation a ticket resumes, if the server signed it."""
        if not isinstance(ticket, str) or "." not in ticket:
            return None
        conversation_id, _, signature = ticket.rpartition(".")
        if conversation_id.startswith("web-") and hmac.compare_digest(
                signature, self._sign(conversation_id)):
            return conversation_id
        return None

    def get_output_channel(self) -> Optional[OutputChannel]:
        return SocketIOOutput(self.sio, "bot_uttered") if self.sio else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        self.sio = sio
        webchat = SocketBlueprint(sio, self.socketio_path, "webchat_webhook", __name__)

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
        async def session_request(sid: str, data: Optional[Dict]) -> None:
            resumed = self.conversation_of_ticket((data or {}).get("ticket"))
            conversation_id = resumed or f"web-{secrets.token_urlsafe(18)}"
            self.conversations[sid] = conversation_id
            entered = sio.enter_room(sid, conversation_id)
            if inspect.isawaitable(entered):  # a coroutine in newer python-socketio
                await entered
            await sio.emit("session_confirm", {"session_id": conversation_id,
                                               "ticket": self.ticket(conversation_id),
                                               "resumed": bool(resumed)}, room=sid)

        @sio.on("disconnect")
        async def disconnect(sid: str) -> None:
            self.conversations.pop(sid, None)

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: Any) -> None:
            conversation_id = self.conversations.get(sid)
            text = data.get("message") if isinstance(data, dict) else None
            if conversation_id is None or not isinstance(text, str) or not text.strip():
                await sio.emit("chat_error", {"code": "no_session"}, room=sid)
                return
            output = SocketIOOutput(sio, "bot_uttered")
            await on_new_message(UserMessage(
                text[:MAX_MESSAGE_CHARS], output, conversation_id,
                input_channel=self.name(), metadata={}))

        return webchat
