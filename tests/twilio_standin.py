"""A local Twilio stand-in: the Messages API over real HTTP, held to Twilio's OpenAPI contract.

    with TwilioStandIn() as twilio:          # serves http://127.0.0.1:<free port>
        twilio.fail_next(429)                # then 500s, 21610 rejections, drops, delays
        ...point TWILIO_API_BASE_URL at twilio.base_url, send...
        assert twilio.violations == [] and len(twilio.messages) == 1
        twilio.send_status(twilio.messages[0]["sid"], "delivered")   # signed like Twilio

Every request is checked against tests/contracts/twilio_api_v2010.json with openapi-core;
what does not conform is kept in `violations`. `GET /captured` lists the same as JSON for
other processes (`?since=N`: only the messages after the first N, for pollers). Run `python -m tests.twilio_standin --port 8089` to keep one running.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import functools
import json
import math
import re
import select
import signal
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import requests
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

CONTRACT = Path(__file__).resolve().parent / "contracts" / "twilio_api_v2010.json"
TWILIO_HOST_URL = "https://api.twilio.com"  # requests are checked as if sent to the real host
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "standin-auth-token"
DEFAULT_FROM = "+4759440000"
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
TWILIO_ERRORS = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
           "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02,
               what: str = "the condition") -> Any:
    """Polls until `predicate()` is truthy (returning it), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def num_segments(body: str) -> int:
    """SMS segments Twilio would bill: GSM-7 (160/153) or UCS-2 (70/67 UTF-16 units)."""
    if set(body) <= GSM7:
        length = len(body) + sum(body.count(c) for c in "^{}\\[~]|€")
        single, multi = 160, 153
    else:
        length = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if length <= single else math.ceil(length / multi)


class _OpenApiRequest:
    """A captured request as openapi-core sees it, addressed to api.twilio.com."""

    def __init__(self, method: str, path: str, headers: Headers, body: str, mimetype: str,
                 query: Optional[ImmutableMultiDict] = None):
        from openapi_core.datatypes import RequestParameters

        self.host_url, self.path, self.method = TWILIO_HOST_URL, path, method.lower()
        self.body, self.mimetype = body, mimetype
        self.parameters = RequestParameters(query=query or ImmutableMultiDict(),
                                            header=headers, cookie=ImmutableMultiDict())


@dataclass
class _OpenApiResponse:
    data: str
    status_code: int
    mimetype: str
    headers: Headers


class Contract:
    """Twilio's OpenAPI description of api.twilio.com 2010-04-01, as request/response checks."""

    def __init__(self, path: Path = CONTRACT):
        from openapi_core import Spec, V30RequestValidator, V30ResponseValidator

        # The description is Twilio's own; checking the description itself takes seconds.
        spec = Spec.from_dict(json.loads(path.read_text()), validator=None)
        self._requests = V30RequestValidator(spec)
        self._responses = V30ResponseValidator(spec)
        self._lock = threading.Lock()

    def check_request(self, method: str, path: str, headers: Headers, body: str,
                      mimetype: str, query: Optional[ImmutableMultiDict] = None) -> List[str]:
        """What is wrong with a request, by the contract (empty when it conforms)."""
        request = _OpenApiRequest(method, path, headers, body, mimetype, query)
        with self._lock:
            return [_describe(e) for e in self._requests.iter_errors(request)]

    def check_response(self, method: str, path: str, headers: Headers, body: str,
                       mimetype: str, response: Response,
                       query: Optional[ImmutableMultiDict] = None) -> List[str]:
        request = _OpenApiRequest(method, path, headers, body, mimetype, query)
        answer = _OpenApiResponse(response.get_data(as_text=True), response.status_code,
                                  response.mimetype, response.headers)
        with self._lock:
            return [_describe(e) for e in self._responses.iter_errors(request, answer)]


def _describe(error: Exception) -> str:
    cause = error.__cause__
    details = [e.message for e in getattr(cause, "schema_errors", ()) or ()]
    return f"{type(error).__name__}: " + ("; ".join(details) if details else repr(cause or error))


@functools.lru_cache(maxsize=None)
def contract(path: Path = CONTRACT) -> Contract:
    """The contract, loaded once per process (it is large)."""
    return Contract(path)


@dataclass
class Captured:
    """One request the stand-in received, and what became of it."""

    method: str
    path: str
    form: Dict[str, str]
    headers: Dict[str, str]
    outcome: str = "in_flight"  # accepted, failed, rejected, invalid, unauthorized,
    status: Optional[int] = None  # not_found, dropped, abandoned
    sid: Optional[str] = None
    violations: List[str] = field(default_factory=list)


@dataclass
class _Script:
    kind: str  # "error", "drop" or "delay"
    status: int = 0
    code: int = 0
    seconds: float = 0.0


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        pass


class TwilioStandIn:
    """Twilio's Messages API on 127.0.0.1, with scriptable failures and signed callbacks."""

    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID,
                 auth_token: str = DEFAULT_AUTH_TOKEN, *, host: str = "127.0.0.1",
                 port: int = 0, validate: bool = True):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.contract = contract() if validate else None
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._script: Deque[_Script] = deque()
        self._requests: List[Captured] = []
        self._messages: Dict[str, Dict[str, Any]] = {}
        self._callbacks: Dict[str, Optional[str]] = {}
        self._server = None
        self._thread: Optional[threading.Thread] = None

    # --- lifecycle
    def start(self) -> "TwilioStandIn":
        self._server = make_server(self._host, self._port, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name="twilio-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self) -> "TwilioStandIn":
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    # --- scripting the next requests (in the order scripted)
    def fail_next(self, status: int, times: int = 1) -> None:
        """Answers the next `times` requests with HTTP `status` (429, 500, 503 …)."""
        code = 20429 if status == 429 else 20500 if status >= 500 else status
        self._add(times, _Script("error", status=status, code=code))

    def reject_next(self, code: int, times: int = 1, status: int = 400) -> None:
        """Answers with a Twilio error such as 21610 (opted out), 21211 or 21614."""
        self._add(times, _Script("error", status=status, code=code))

    def drop_next(self, times: int = 1) -> None:
        """Reads the request, then closes the connection without an answer."""
        self._add(times, _Script("drop"))

    def accept_then_drop_next(self, times: int = 1) -> None:
        """Creates the message, then closes the connection unanswered: the client cannot know
        that the SMS goes out (Twilio's side of an ambiguous timeout)."""
        self._add(times, _Script("accept_drop"))

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Holds the request before accepting it; a client that leaves meanwhile sent nothing."""
        self._add(times, _Script("delay", seconds=seconds))

    def _add(self, times: int, script: _Script) -> None:
        with self._lock:
            self._script.extend([script] * times)

    # --- what happened
    @property
    def requests(self) -> List[Captured]:
        with self._lock:
            return [Captured(**asdict(r)) for r in self._requests]

    @property
    def messages(self) -> List[Dict[str, Any]]:
        """Accepted messages in order: Twilio's Message resource plus `status_callback`."""
        return self.messages_after(0)

    def messages_after(self, count: int) -> List[Dict[str, Any]]:
        """The accepted messages after the first `count`."""
        with self._lock:
            later = list(self._messages.values())[count:]
            return [dict(m, status_callback=self._callbacks[m["sid"]]) for m in later]

    @property
    def violations(self) -> List[str]:
        with self._lock:
            return [f"{r.method} {r.path}: {v}" for r in self._requests for v in r.violations]

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(r.outcome == "in_flight" for r in self._requests)

    def outcomes(self) -> List[str]:
        with self._lock:
            return [r.outcome for r in self._requests]

    # --- status callbacks, signed like Twilio's
    def callback_request(self, sid: str, status: str, error_code: Optional[int] = None
                         ) -> Tuple[str, Dict[str, str], Dict[str, str]]:
        """(url, form, headers) of the status callback Twilio would post for a message."""
        with self._lock:
            message, url = self._messages[sid], self._callbacks[sid]
        if not url:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        form = {"ApiVersion": "2010-04-01", "AccountSid": message["account_sid"],
                "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                "SmsStatus": status, "To": message["to"],
                "From": message["from"] or DEFAULT_FROM}
        if message["messaging_service_sid"]:
            form["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, form)
        return url, form, {"X-Twilio-Signature": signature}

    def send_status(self, sid: str, status: str, error_code: Optional[int] = None,
                    timeout: float = 10.0) -> requests.Response:
        """Posts a status callback now; call it in any order to model Twilio's."""
        url, form, headers = self.callback_request(sid, status, error_code)
        with self._lock:
            message = self._messages[sid]
            message.update(status=status, error_code=error_code)
            if status in ("sent", "delivered") and message["date_sent"] is None:
                message["date_sent"] = format_datetime(datetime.now(timezone.utc))
        return requests.post(url, data=form, headers=headers, timeout=timeout)

    # --- the HTTP side
    def _wsgi(self, environ: Dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        if request.method == "GET" and request.path == "/captured":
            since = request.args.get("since", "")
            if since.isdigit():  # a poller's next page: only the messages after the first N
                page = {"messages": self.messages_after(int(since))}
            else:
                page = {"messages": self.messages, "violations": self.violations,
                        "requests": [asdict(r) for r in self.requests]}
            return _json(page, 200)(environ, start_response)
        response = self._handle(request, environ)
        return response(environ, start_response)

    def _handle(self, request: Request, environ: Dict[str, Any]) -> Response:
        body = request.get_data(as_text=True)  # read it all before any drop or delay
        form = request.form.to_dict() if request.method == "POST" else request.args.to_dict()
        record = Captured(request.method, request.path, form, dict(request.headers))
        if self.contract is not None:
            record.violations = self.contract.check_request(
                request.method, request.path, request.headers, body, request.mimetype,
                request.args)
        with self._lock:
            self._requests.append(record)
        match = MESSAGES_PATH.match(request.path)
        if not match or request.method not in ("POST", "GET"):
            return self._finish(record, "not_found", _twilio_error(404, 20404))
        if not self._authorised(request, match["account"]):
            return self._finish(record, "unauthorized", _twilio_error(401, 20003))
        if request.method == "GET":
            response = _json(self._list(match["account"], request), 200)
            if self.contract is not None:
                record.violations += ["answer: " + v for v in self.contract.check_response(
                    request.method, request.path, request.headers, body, request.mimetype,
                    response, request.args)]
            return self._finish(record, "listed", response)
        with self._lock:
            script = self._script.popleft() if self._script else None
        if script is not None and script.kind == "error":
            outcome = "failed" if script.status == 429 or script.status >= 500 else "rejected"
            return self._finish(record, outcome, _twilio_error(script.status, script.code))
        if script is not None and script.kind == "drop":
            _shut(environ["werkzeug.socket"])
            return self._finish(record, "dropped", Response(status=500))
        if script is not None and script.kind == "delay":
            if not self._wait_while_connected(environ["werkzeug.socket"], script.seconds):
                return self._finish(record, "abandoned", Response(status=500))
        missing = _missing_parameter(record.form)
        if missing:
            return self._finish(record, "invalid", _twilio_error(400, missing))
        message = self._message(match["account"], record.form)
        if script is not None and script.kind == "accept_drop":
            with self._lock:
                self._messages[message["sid"]] = message
                self._callbacks[message["sid"]] = record.form.get("StatusCallback")
                record.sid = message["sid"]
            _shut(environ["werkzeug.socket"])
            return self._finish(record, "accepted_unanswered", Response(status=500))
        response = _json(message, 201)
        if self.contract is not None:
            record.violations += ["answer: " + v for v in self.contract.check_response(
                request.method, request.path, request.headers, body, request.mimetype, response)]
        with self._lock:
            self._messages[message["sid"]] = message
            self._callbacks[message["sid"]] = record.form.get("StatusCallback")
            record.sid = message["sid"]
        return self._finish(record, "accepted", response)

    def _finish(self, record: Captured, outcome: str, response: Response) -> Response:
        with self._lock:
            record.outcome, record.status = outcome, response.status_code
        return response

    def _authorised(self, request: Request, account: str) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.account_sid == account and password == self.auth_token

    def _wait_while_connected(self, sock: socket.socket, seconds: float) -> bool:
        """Waits `seconds`; False as soon as the client hangs up (or the stand-in stops)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._closing.is_set() or _hung_up(sock):
                return False
            self._closing.wait(0.02)
        return True

    def _list(self, account: str, request: Request) -> Dict[str, Any]:
        """Twilio's Message list: newest first, by To, From and DateSent (whole GMT days:
        `DateSent`, `DateSent<` on or before, `DateSent>` on or after); one page."""
        args = request.args
        size = min(1000, int(args.get("PageSize", "50")))

        def day(value: str) -> str:
            return value[:10]

        def sent_day(message: Dict[str, Any]) -> Optional[str]:
            if not message["date_sent"]:
                return None  # not sent yet: no date_sent, so no DateSent filter matches it
            return parsedate_to_datetime(message["date_sent"]).strftime("%Y-%m-%d")

        with self._lock:
            found = [dict(m) for m in reversed(self._messages.values())
                     if m["account_sid"] == account]
        for name, keep in (("To", lambda m, v: m["to"] == v),
                           ("From", lambda m, v: m["from"] == v),
                           ("DateSent", lambda m, v: sent_day(m) == day(v)),
                           ("DateSent<", lambda m, v: (sent_day(m) or "~") <= day(v)),
                           ("DateSent>", lambda m, v: (sent_day(m) or "") >= day(v))):
            if args.get(name):
                found = [m for m in found if keep(m, args[name])]
        uri = f"/2010-04-01/Accounts/{account}/Messages.json?PageSize={size}&Page=0"
        return {"messages": found[:size], "end": max(0, min(size, len(found)) - 1),
                "first_page_uri": uri, "next_page_uri": None, "page": 0, "page_size": size,
                "previous_page_uri": None, "start": 0, "uri": uri}

    def _message(self, account: str, form: Dict[str, str]) -> Dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(timezone.utc))
        service = form.get("MessagingServiceSid")
        body = form.get("Body", "")
        return {
            "account_sid": account, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": service, "num_media": "0",
            "num_segments": str(num_segments(body)), "price": None, "price_unit": "USD",
            "sid": sid, "status": "accepted" if service and not form.get("From") else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"},
            "to": form["To"], "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        }


def _missing_parameter(form: Dict[str, str]) -> Optional[int]:
    """Twilio's own checks beyond the schema, as its error code."""
    if not form.get("To"):
        return 21604
    if not form.get("Body") and not form.get("MediaUrl"):
        return 21602
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return 21603
    return None


def _json(payload: Any, status: int) -> Response:
    return Response(json.dumps(payload), status, mimetype="application/json")


def _twilio_error(status: int, code: int) -> Response:
    return _json({"code": code, "message": TWILIO_ERRORS.get(code, "Error"),
                  "more_info": f"https://www.twilio.com/docs/errors/{code}",
                  "status": status}, status)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _hung_up(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def main(argv: Optional[List[str]] = None) -> None:
    """Serves a stand-in until SIGINT/SIGTERM, printing its base URL first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--no-validate", action="store_true", help="skip the contract checks")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with TwilioStandIn(args.account_sid, args.auth_token, port=args.port,
                       validate=not args.no_validate) as standin:
        print(standin.base_url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
