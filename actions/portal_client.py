"""The action server's async client for the portal API, with timeouts and typed errors."""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

import aiohttp

from portal import correlation

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = float(os.environ.get("PORTAL_TIMEOUT_SECONDS", "4"))
# Login steps answer no sooner than this, known number or not; awaited, holding no thread.
LOGIN_FLOOR_SECONDS = float(os.environ.get("LOGIN_RESPONSE_FLOOR_MS", "300")) / 1000


class PortalUnavailable(Exception):
    """The portal did not answer in time, or answered with a server error."""


class PortalError(Exception):
    """The portal refused the request with a 4xx and a stable error code."""

    def __init__(self, status: int, code: str, message: str, details: Dict[str, Any]):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class SessionInvalid(PortalError):
    """The citizen's login session has expired, ended or does not fit this conversation."""


@dataclass(frozen=True)
class Conversation:
    """Who the actions act for: a conversation on the channel its id names.

    No session secret: the portal knows which citizen (if any) is logged in in it.
    """

    channel: str
    conversation_id: str


def not_sent(exc: BaseException) -> bool:
    """The request never reached the portal: no connection, or the connection was closed
    under it before its body was written (a reused keep-alive connection the portal dropped)."""
    return isinstance(exc, aiohttp.ClientConnectorError) or (
        isinstance(exc, aiohttp.ClientOSError) and "Can not write request body" in str(exc))


class PortalClient:
    def __init__(self, base_url: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = DEFAULT_TIMEOUT):
        self.base_url = (base_url or os.environ.get("PORTAL_URL", "http://127.0.0.1:8000")).rstrip("/")
        self.token = token if token is not None else os.environ.get("PORTAL_SERVICE_TOKEN", "")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.login_floor = LOGIN_FLOOR_SECONDS
        self._http: Optional[aiohttp.ClientSession] = None

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # Idle connections are dropped before gunicorn's 2 s keep-alive closes them, so a
            # request never lands on a connection the portal is closing.
            connector = aiohttp.TCPConnector(keepalive_timeout=1)
            self._http = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def request(self, method: str, path: str, conversation: Optional[Conversation] = None,
                      **kwargs: Any) -> Dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if correlation.current():
            headers[correlation.HEADER] = correlation.current()
        if conversation is not None:
            headers["X-Channel"] = conversation.channel
            headers["X-Conversation-Id"] = conversation.conversation_id
        for attempt in (1, 2):
            http = await self._session()
            try:
                async with http.request(method, self.base_url + path, headers=headers,
                                        **kwargs) as response:
                    body = (await response.json(content_type=None)
                            if response.content_length != 0 else {})
                    status = response.status
                break
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                if attempt == 1 and not_sent(exc):
                    continue  # the portal never saw it: once more, on a new connection
                log.warning("portal %s %s failed: %s", method, path, type(exc).__name__)
                raise PortalUnavailable(str(exc)) from exc
        if status >= 500:
            raise PortalUnavailable(f"portal answered {status}")
        if status >= 400:
            error = (body or {}).get("error", {})
            code = error.get("code", "error")
            cls = SessionInvalid if status == 401 and code.startswith("session") else PortalError
            raise cls(status, code, error.get("message", ""), error.get("details") or {})
        return body or {}

    # Login
    async def _floored(self, method: str, path: str, **kwargs: Any) -> Dict[str, Any]:
        """A login request answered no sooner than the floor, whoever the number is."""
        started = asyncio.get_running_loop().time()
        try:
            return await self.request(method, path, **kwargs)
        finally:
            elapsed = asyncio.get_running_loop().time() - started
            await asyncio.sleep(max(0.0, self.login_floor - elapsed))

    async def start_login(self, fnr: str, conversation: Conversation) -> None:
        await self._floored("POST", "/api/v1/login/start", json={
            "fnr": fnr, "channel": conversation.channel,
            "conversation_id": conversation.conversation_id})

    async def request_code(self, personal_code: Optional[str],
                           conversation: Conversation) -> None:
        await self._floored("POST", "/api/v1/login/code", json={
            "personal_code": personal_code, "channel": conversation.channel,
            "conversation_id": conversation.conversation_id})

    async def verify_code(self, code: str, conversation: Conversation) -> Dict[str, Any]:
        return await self.request("POST", "/api/v1/login/verify", json={
            "code": code, "channel": conversation.channel,
            "conversation_id": conversation.conversation_id})

    # The personal code
    async def confirm_personal_code(self, conversation: Conversation, code: str) -> None:
        await self.request("POST", "/api/v1/me/personal-code/confirm", conversation,
                           json={"code": code})

    async def choose_personal_code(self, conversation: Conversation, code: str) -> None:
        await self.request("PUT", "/api/v1/me/personal-code", conversation, json={"code": code})

    async def request_code_reset(self, fnr: str, conversation: Conversation) -> None:
        await self._floored("POST", "/api/v1/login/personal-code/reset", json={
            "fnr": fnr, "channel": conversation.channel,
            "conversation_id": conversation.conversation_id})

    async def cancel_code_reset(self, conversation: Conversation) -> bool:
        answer = await self.request("POST", "/api/v1/login/personal-code/reset/cancel", json={
            "channel": conversation.channel, "conversation_id": conversation.conversation_id})
        return bool(answer.get("cancelled"))

    async def me(self, conversation: Conversation) -> Dict[str, Any]:
        return await self.request("GET", "/api/v1/me", conversation)

    async def logout(self, conversation: Conversation) -> None:
        await self.request("POST", "/api/v1/me/logout", conversation)

    # Journeys
    async def letters(self, conversation: Conversation, *, limit: int = 9) -> Dict[str, Any]:
        return await self.request("GET", "/api/v1/me/letters", conversation,
                                  params={"limit": str(limit)})

    async def noticed_letters(self, conversation: Conversation) -> Dict[str, Any]:
        return await self.request("GET", "/api/v1/me/letters/noticed", conversation)

    async def read_letter(self, conversation: Conversation, letter_id: int) -> Dict[str, Any]:
        return await self.request("GET", f"/api/v1/me/letters/{int(letter_id)}", conversation)

    async def offers(self, conversation: Conversation, *, open_only: bool) -> Dict[str, Any]:
        return await self.request("GET", "/api/v1/me/offers", conversation,
                                  params={"open": "true" if open_only else "false"})

    async def answer_offer(self, conversation: Conversation, offer_id: int,
                           answer: str) -> Dict[str, Any]:
        return await self.request("POST", f"/api/v1/me/offers/{int(offer_id)}/answer",
                                  conversation, json={"answer": answer})

    async def invoices(self, conversation: Conversation, *, status: str) -> Dict[str, Any]:
        return await self.request("GET", "/api/v1/me/invoices", conversation,
                                  params={"status": status})

    async def properties(self, conversation: Conversation) -> Dict[str, Any]:
        return await self.request("GET", "/api/v1/me/properties", conversation)

    async def set_language(self, conversation: Conversation, language: str) -> Dict[str, Any]:
        return await self.request("PUT", "/api/v1/me/language", conversation,
                                  json={"language": language})

    async def erase_conversation(self, conversation: Conversation) -> Dict[str, Any]:
        """Erases the content of this conversation everywhere and ends its login."""
        return await self.request("POST", "/api/v1/conversations/erase", conversation)

    # Writing to the municipality: a draft, then sent (JA) or discarded (NEI)
    async def draft_case(self, conversation: Conversation, text: str,
                         letter_id: Optional[int]) -> Dict[str, Any]:
        return await self.request("POST", "/api/v1/me/cases", conversation, json={
            "text": text, "reply_to_letter_id": letter_id, "draft": True})

    async def send_case(self, conversation: Conversation, case_id: int) -> Dict[str, Any]:
        return await self.request("POST", f"/api/v1/me/cases/{int(case_id)}", conversation)

    async def discard_case(self, conversation: Conversation, case_id: int) -> None:
        await self.request("DELETE", f"/api/v1/me/cases/{int(case_id)}", conversation)

    async def request_handoff(self, conversation: Conversation, reason: str) -> Dict[str, Any]:
        return await self.request("POST", "/api/v1/handoffs", conversation, json={
            "channel": conversation.channel, "conversation_id": conversation.conversation_id,
            "reason": reason})


portal = PortalClient()
