"""The SMS channel: Twilio webhooks checked, de-duplicated, answered at once, handled in order.

Rasa's built-in TwilioInput checks no signature, runs retried webhooks twice, blocks its
event loop while sending, sends an SMS per button and keys conversations by phone number.
This channel:
- checks X-Twilio-Signature against the public URL Twilio called (403 and nothing else);
- logs every accepted SMS in the portal database before answering, so a retried or replayed
  MessageSid runs no second turn (Redis SET NX first when REDIS_URL is set) and nothing is
  lost if the process stops: unhandled SMS are replayed at start-up;
- answers Twilio with an empty TwiML response straight away and runs the turn in the
  background, in order per sender;
- uses a keyed hash of the number as the conversation key; the number stays in the portal;
- handles STOPP/START/HJELP, MER and numbered choices before NLU;
- writes replies to the durable outbox, which the SMS worker sends.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from typing import Any, Awaitable, Callable, Dict, Optional, Text
from urllib.parse import parse_qsl

import redis
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from twilio.request_validator import RequestValidator

from actions.language import detect
from portal.bootstrap import Portal
from portal.clock import Clock
from portal.config import Settings
from portal.errors import InvalidInput
from portal.identity import normalize_mobile
from portal.sms import conversation, texts
from portal.sms.dispatcher import apply_status_callback
from portal.sms.format import is_more_request

log = logging.getLogger(__name__)

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
SEEN_TTL = 7 * 24 * 3600
# Turns share the event loop with the webhook: a burst of CPU-bound turns must not delay
# Twilio's acknowledgements, so only a few run at once; the rest wait in their queues.
TURN_CONCURRENCY = int(os.environ.get("SMS_TURN_CONCURRENCY", "2"))
STOP_WORDS = {"STOPP", "STOP", "AVSLUTT"}
START_WORDS = {"START"}
HELP_WORDS = {"HJELP", "HELP"}


def form_of(request: Request) -> Dict[str, str]:
    """Twilio's form fields, blank ones included (they are part of the signature)."""
    if not (request.content_type or "").startswith("application/x-www-form-urlencoded"):
        return {}
    try:
        return dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def keyword(body: str) -> Optional[str]:
    """A single-word keyword in any case ("stopp", "Start!"), or None."""
    words = body.strip().strip(".!").upper().split()
    return words[0] if len(words) == 1 else None


class SmsInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        # Rasa holds only the secrets its channels need (assistant/runtime.py env_for).
        return cls(Settings.from_env(required=("IDENTITY_HASH_KEY",)),
                   auth_token=credentials.get("auth_token") or "")

    def __init__(self, settings: Settings, auth_token: str, clock: Optional[Clock] = None):
        self.settings = settings
        self.validator = RequestValidator(auth_token) if auth_token else None
        self.portal = Portal(settings, clock or Clock())
        self.seen = (redis.Redis.from_url(settings.redis_url, socket_timeout=1)
                     if settings.redis_url else None)
        self.queues: Dict[str, asyncio.Queue] = defaultdict(asyncio.Queue)
        self.workers: Dict[str, asyncio.Task] = {}
        self.turn_slots: Optional[asyncio.Semaphore] = None
        self.on_new_message: Optional[Callable[[UserMessage], Awaitable[Any]]] = None

    # --- helpers running the portal's (synchronous) database code off the event loop
    async def _db(self, work: Callable, *args: Any, **kwargs: Any) -> Any:
        def run():
            with self.portal.sessions() as db:
                return work(db, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(None, run)

    def _signed(self, request: Request, form: Dict[str, str]) -> bool:
        if self.validator is None:
            return False
        url = self.settings.public_base_url + request.path
        if request.query_string:
            url += "?" + request.query_string
        return self.validator.validate(url, form, request.headers.get("X-Twilio-Signature", ""))

    def _first_sighting(self, message_sid: str) -> bool:
        if self.seen is None:
            return True  # the database's unique MessageSid decides
        return bool(self.seen.set(f"assistant:sms:sid:{message_sid}", 1, nx=True, ex=SEEN_TTL))

    def _forget_sighting(self, message_sid: str) -> None:
        if self.seen is not None:
            self.seen.delete(f"assistant:sms:sid:{message_sid}")

    async def _accept(self, message_sid: str, phone: str, form: Dict[str, str]) -> None:
        """Logs an inbound SMS in the database and queues it for its sender's turn."""
        row = await self._db(
            conversation.record_inbound, self.settings, message_sid=message_sid, phone=phone,
            body=(form.get("Body") or "")[:1600], num_media=int(form.get("NumMedia") or 0),
            now=self.portal.clock.now())
        if row is not None:
            self._queue(row.sender_key, row.id)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self.on_new_message = on_new_message
        sms = Blueprint("sms_webhook", __name__)

        @sms.listener("after_server_start")
        async def replay(_app, _loop) -> None:
            for row in await self._db(conversation.unprocessed):
                self._queue(row.sender_key, row.id)

        @sms.route("/", methods=["GET"])
        async def health(_: Request):
            return response.json({"status": "ok"})

        @sms.route("/webhook", methods=["POST"])
        async def webhook(request: Request):
            form = form_of(request)
            if not self._signed(request, form):
                return response.text("Forbidden", status=403)
            try:
                phone = normalize_mobile(form.get("From") or "")
            except InvalidInput:
                phone = (form.get("From") or "").strip()
            message_sid = form.get("MessageSid") or form.get("SmsSid")
            if not message_sid or not phone:
                return response.text("Bad Request", status=400)
            if self._first_sighting(message_sid):
                # Shielded: once the SMS is logged it is queued, even if Twilio hangs up.
                accepted = asyncio.ensure_future(self._accept(message_sid, phone, form))
                try:
                    await asyncio.shield(accepted)
                except Exception:
                    log.exception("inbound SMS could not be logged; Twilio may retry it")
                    self._forget_sighting(message_sid)
                    return response.text("Try again", status=503)
            return response.text(TWIML_EMPTY, content_type="text/xml")

        @sms.route("/status", methods=["POST"])
        async def status(request: Request):
            form = form_of(request)
            if not self._signed(request, form):
                return response.text("Forbidden", status=403)
            sid = form.get("MessageSid") or form.get("SmsSid")
            if sid:
                await self._db(apply_status_callback, sid, form.get("MessageStatus"),
                               form.get("ErrorCode"))
            return response.text(TWIML_EMPTY, content_type="text/xml")

        return sms

    # --- background handling, in order per sender
    def _queue(self, key: str, inbound_id: int) -> None:
        self.queues[key].put_nowait(inbound_id)
        worker = self.workers.get(key)
        if worker is None or worker.done():
            self.workers[key] = asyncio.get_running_loop().create_task(self._drain(key))

    async def _drain(self, key: str) -> None:
        queue = self.queues[key]
        if self.turn_slots is None:
            self.turn_slots = asyncio.Semaphore(TURN_CONCURRENCY)
        while not queue.empty():
            inbound_id = queue.get_nowait()
            try:
                async with self.turn_slots:
                    await self._handle(key, inbound_id)
            except Exception:
                log.exception("SMS %s could not be handled", inbound_id)
            finally:
                await self._db(conversation.finish, inbound_id, self.portal.clock.now())
        self.workers.pop(key, None)

    async def _handle(self, key: str, inbound_id: int) -> None:
        from portal.models import InboundSms

        row = await self._db(lambda db: db.get(InboundSms, inbound_id))
        if row is None or row.status != "received":
            return
        body, language = row.body.strip(), detect(row.body)
        word = keyword(body)
        if row.num_media:
            await self._reply(key, texts.TEXT_ONLY[language], language)
        elif word in STOP_WORDS:
            await self._reply(key, texts.OPTED_OUT[language], language, ignore_opt_out=True)
            await self._db(conversation.set_opted_out, key, True, self.portal.clock.now())
        elif word in START_WORDS:
            await self._db(conversation.set_opted_out, key, False, self.portal.clock.now())
            await self._reply(key, texts.OPTED_IN[language], language)
        elif word in HELP_WORDS:
            await self._reply(key, texts.HELP[language], language)
        elif is_more_request(body):
            rest = await self._db(conversation.take_more, key)
            await self._reply(key, rest or texts.NOTHING_MORE[language], language)
        else:
            choice = await self._db(conversation.take_choice, key, body)
            await self._run_turn(key, choice or body)

    async def _run_turn(self, key: str, text: str) -> None:
        collector = CollectingOutputChannel()
        await self.on_new_message(UserMessage(text, collector, key, input_channel=self.name(),
                                              metadata={}))
        replies = [m for m in collector.messages if m.get("text") or m.get("buttons")]
        if not replies:
            return
        body = "\n\n".join(m.get("text") or "" for m in replies).strip()
        buttons = [b for m in replies for b in (m.get("buttons") or [])]
        await self._reply(key, body, detect(body), buttons=buttons or None)

    async def _reply(self, key: str, text: str, language: str, **options: Any) -> None:
        await self._db(conversation.queue_reply, self.settings, key, text,
                       now=self.portal.clock.now(), language=language, **options)
