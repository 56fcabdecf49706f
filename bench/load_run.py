"""A load run over SMS and the web chat (issue 11): many citizens' journeys at once against 2
Rasa servers and then 1, in the same run.

    .venv/bin/python -m bench.load_run [--conversations 200 --messages 10000]

Each conversation is one synthetic citizen (valid synthetic fødselsnummer, a mobile, Kari
Nordmann's letters, offer and invoices). A quarter of them (`--webchat-share`) chat through the
web chat's socket.io channel on one of the Rasa servers; the others text through the portal's
signed Twilio webhook. Each logs in (fødselsnummer, INGEN for the personal code it does not
have yet, the one-time code read from the SMS the Twilio stand-in received, then choosing a
personal code), accepts the kindergarten place (and confirms JA), then mixes listing and
reading letters, unpaid invoices and small talk until its share of messages is sent. Each
message waits for its reply (closed loop, a short think time). Every phase gets fresh citizens.
Reported per phase: throughput, reply latency (message accepted -> reply at the stand-in with
0.25 s polling, or at the socket.io client) p50/p95/p99 in all and per channel, lost / recorded
or answered twice / handed to Twilio twice / out of order, CPU seconds and peak RSS per
process, and the assistant's own /metrics scraped every 5 s (queue peaks, counters). Writes
bench/results/load_run.json.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

from bench.assistant_stack import BenchStack, Webhooks, integrity, new_sid, webchat_integrity
from bench.citizens import Citizen, demo_identities, make_citizens
from bench.common import (RAISED_LOGIN_LIMITS, RESULTS, ProcessMeter, code_revision, exit_on_signals, log,
                          machine_load, ratio, stats)
from bench.metrics_scrape import MetricsScraper

CODE = re.compile(r"\b(\d{6})\b")
SMALL_TALK = ["Takk", "Hva kan du hjelpe meg med?", "Hvilke brev har jeg?", "Hei igjen",
              "Når har barnehagen åpent?", "ok"]


class Inbox:
    """Every SMS the stand-in received, polled in one thread and handed to waiting senders."""

    def __init__(self, stack: BenchStack, interval: float = 0.25):
        self.stack, self.interval = stack, interval
        self.by_number: Dict[str, List[Tuple[float, str]]] = {}
        self.seen = 0
        self.cond = threading.Condition()
        self.stopped = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self.stopped.is_set():
            try:
                messages = self.stack.standin.captured(since=self.seen)
            except Exception:  # noqa: BLE001 - retried on the next poll
                messages = []
            now = time.monotonic()
            with self.cond:
                for message in messages:
                    self.by_number.setdefault(message["to"], []).append((now, message["body"]))
                self.seen += len(messages)
                self.cond.notify_all()
            time.sleep(self.interval)

    def count(self, number: str) -> int:
        with self.cond:
            return len(self.by_number.get(number, []))

    def wait(self, number: str, after: int, contains: str, timeout: float) -> Optional[tuple]:
        """(arrival, body) of the first SMS beyond `after` containing the text, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while time.monotonic() < deadline:
                for arrival, body in self.by_number.get(number, [])[after:]:
                    if contains in body:
                        return arrival, body
                self.cond.wait(timeout=1)
        return None


class SmsLine:
    """One citizen's phone: signed webhooks to the portal out, the stand-in's SMS in."""

    channel = "sms"

    def __init__(self, hooks: Webhooks, inbox: Inbox, citizen: Citizen):
        self.hooks, self.inbox, self.citizen = hooks, inbox, citizen
        self.sids: List[str] = []

    def open(self) -> None:
        pass

    def replies(self) -> int:
        return self.inbox.count(self.citizen.mobile)

    def send(self, text: str) -> Optional[str]:
        """None when the webhook took the message, else why not."""
        sid = new_sid()
        for _ in range(20):
            status, _ = self.hooks.sms(self.citizen.mobile, text, sid)
            if status in (200, 409):
                self.sids.append(sid)
                return None
            time.sleep(0.5)
        return f"webhook refused: {status}"

    def wait(self, after: int, contains: str, timeout: float) -> Optional[tuple]:
        return self.inbox.wait(self.citizen.mobile, after, contains, timeout)

    def close(self) -> None:
        pass


class ChatLine:
    """One citizen's browser tab: a socket.io client of the web chat on one Rasa server; the
    one-time code still comes by SMS to the citizen's mobile."""

    channel = "webchat"

    def __init__(self, rasa_url: str, citizen: Citizen):
        self.rasa_url, self.citizen = rasa_url, citizen
        self.received: List[Tuple[float, str]] = []
        self.cond = threading.Condition()
        self.conversation_id: Optional[str] = None
        self.sent = 0

    def open(self) -> None:
        import socketio

        self.client = socketio.Client(reconnection=False)
        confirmed = threading.Event()

        def confirm(data):
            self.conversation_id = data["session_id"]
            confirmed.set()

        def uttered(data):
            with self.cond:
                self.received.append((time.monotonic(), data.get("text") or ""))
                self.cond.notify_all()

        self.client.on("session_confirm", confirm)
        self.client.on("bot_uttered", uttered)
        self.client.connect(self.rasa_url, transports=["polling"], socketio_path="/socket.io",
                            wait_timeout=60)
        self.client.emit("session_request", {})
        if not confirmed.wait(60):
            raise RuntimeError("no session_confirm")

    def replies(self) -> int:
        with self.cond:
            return len(self.received)

    def send(self, text: str) -> Optional[str]:
        try:
            self.client.emit("user_uttered", {"message": text})
        except Exception as exc:  # noqa: BLE001 - reported as the conversation's failure
            return f"web chat emit failed: {exc}"
        self.sent += 1
        return None

    def wait(self, after: int, contains: str, timeout: float) -> Optional[tuple]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while time.monotonic() < deadline:
                for arrival, body in self.received[after:]:
                    if contains in body:
                        return arrival, body
                self.cond.wait(timeout=1)
        return None

    def close(self) -> None:
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001 - the run is over
            pass


def journey(citizen: Citizen, messages: int, rng: random.Random) -> List[Tuple[str, str]]:
    """(text, expected reply text) steps; "{code}" is filled from the one-time code SMS."""
    # Synthetic citizens have no personal code: INGEN, then they choose one after the code.
    steps = [("logg inn", "fødselsnummer"), (citizen.fnr, "personlige koden"),
             ("INGEN", "engangskode"), ("{code}", "Velg en personlig kode"), ("4826", "lagret"),
             ("jeg vil takke ja til barnehageplassen", "JA"), ("JA", "takket ja")]
    # Once every letter is read, "brev" answers "ingen nye brev" and lists the latest ones.
    blocks = [[("brev", "brev"), ("les 1", "")], [("faktura", "kr")],
              [(rng.choice(SMALL_TALK), "")]]
    while len(steps) < messages:
        steps.extend(rng.choice(blocks))
    return steps[:max(messages, 5)]


def converse(line, inbox: Inbox, steps, think: float, latencies: List[float],
             failures: List[str], seed: int) -> None:
    """One citizen's conversation, each message waiting for its reply (a closed loop)."""
    rng, code, texts_before = random.Random(seed), "", 0
    time.sleep(rng.random() * think * 4)
    try:
        line.open()
    except Exception as exc:  # noqa: BLE001 - a conversation that could not start
        failures.append(f"{line.channel}: could not open: {exc}")
        return
    try:
        for text, expect in steps:
            before = line.replies()
            if text == "INGEN":
                texts_before = inbox.count(line.citizen.mobile)
            if text == "{code}":
                got = inbox.wait(line.citizen.mobile, texts_before, "Engangskoden", 180)
                match = got and CODE.search(got[1])
                code = match[1] if match else ""
            refused = line.send(text.replace("{code}", code))
            if refused:
                failures.append(f"{line.channel}: {refused}")
                return
            accepted = time.monotonic()
            got = line.wait(before, expect, timeout=180)
            if got is None:
                failures.append(f"{line.channel}: no reply containing {expect!r} to {text!r}")
                return
            latencies.append(got[0] - accepted)
            time.sleep(think * (0.5 + rng.random()))
    finally:
        line.close()


def phase(stack: BenchStack, inbox: Inbox, citizens: List[Citizen], args: argparse.Namespace,
          rasa_urls: List[str]) -> Dict[str, Any]:
    log(f"phase: {len(rasa_urls)} Rasa server(s), {len(citizens)} conversations")
    stack.start_workers(args.workers, rasa_urls)
    meter = ProcessMeter()
    for name, pid in stack.pids().items():
        meter.track(name, pid)
    done = threading.Event()
    threading.Thread(target=_sample, args=(meter, done), daemon=True).start()
    runtime = stack.runtime
    scraper = MetricsScraper({"portal": f"{runtime.portal_url}/metrics",
                              **{f"rasa-{i + 1}": f"{url}/webhooks/gateway/metrics"
                                 for i, url in enumerate(rasa_urls)}},
                             runtime.metrics_token).start()
    hooks, per = Webhooks(stack), max(3, args.messages // args.conversations)
    chats = round(len(citizens) * args.webchat_share)
    lines = [ChatLine(rasa_urls[i % len(rasa_urls)], c) if i < chats
             else SmsLine(hooks, inbox, c) for i, c in enumerate(citizens)]
    latencies: Dict[str, List[float]] = {"sms": [], "webchat": []}
    failures: List[str] = []
    load_before = machine_load(sample_s=0)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(citizens)) as pool:
        for i, line in enumerate(lines):
            steps = journey(line.citizen, per, random.Random(args.seed + i))
            pool.submit(converse, line, inbox, steps, args.think, latencies[line.channel],
                        failures, args.seed + i)
    wall = time.monotonic() - start
    done.set()
    time.sleep(1)
    meter.sample()
    scraped = scraper.stop()
    stack.stop_workers()
    sms = integrity(stack.url, {line.citizen.mobile: line.sids for line in lines
                                if line.channel == "sms"}, stack.standin.captured())
    chat = webchat_integrity(stack.url, {line.conversation_id: line.sent for line in lines
                                         if line.channel == "webchat" and line.conversation_id})
    replies = sum(len(v) for v in latencies.values())
    return {"rasa_servers": len(rasa_urls), "conversations": len(citizens),
            "webchat_conversations": chats, "messages_sent": sms["sent"] + chat["sent"],
            "replies": replies, "wall_s": round(wall, 1),
            "throughput_msg_per_s": round(replies / wall, 2) if wall else None,
            "reply_latency_s": stats(latencies["sms"] + latencies["webchat"], digits=2),
            "reply_latency_s_by_channel": {k: stats(v, digits=2) for k, v in latencies.items()},
            "failures": failures[:20], "failed_conversations": len(failures),
            "integrity": {"sms": sms, "webchat": chat},
            "load_before": load_before, "load_after": machine_load(sample_s=0),
            "cpu_memory": meter.report(), "metrics": scraped,
            "metrics_excerpt": scraper.excerpt()}


def _sample(meter: ProcessMeter, done: threading.Event) -> None:
    while not done.wait(2.0):
        meter.sample()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200, help="per phase")
    parser.add_argument("--messages", type=int, default=10000, help="per phase")
    parser.add_argument("--workers", type=int, default=2, help="turn workers")
    parser.add_argument("--webchat-share", type=float, default=0.25,
                        help="share of the conversations held in the web chat")
    parser.add_argument("--think", type=float, default=2.0, help="seconds between messages")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--output", default=str(RESULTS / "load_run.json"))
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    fnrs, mobiles = demo_identities()
    citizens = make_citizens(2 * args.conversations, args.seed, fnrs, mobiles)
    result: Dict[str, Any] = {"revision": code_revision(), "load_at_start": machine_load(),
                              "args": vars(args)}
    stack = BenchStack(rasa_instances=2, redis_url=args.redis_url, citizens=citizens,
                       extra_env=RAISED_LOGIN_LIMITS)
    inbox = None
    try:
        stack.start()
        inbox = Inbox(stack)
        half = args.conversations
        result["two_rasa"] = phase(stack, inbox, citizens[:half], args, stack.rasa_urls)
        result["one_rasa"] = phase(stack, inbox, citizens[half:], args, stack.rasa_urls[:1])
    finally:
        if inbox:
            inbox.stopped.set()
        stack.stop()
    result["throughput_2_vs_1"] = ratio(result["two_rasa"]["throughput_msg_per_s"],
                                        result["one_rasa"]["throughput_msg_per_s"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2, default=str)
    for name in ("two_rasa", "one_rasa"):
        p = result[name]
        print(name, {k: p[k] for k in ("messages_sent", "replies", "wall_s",
                                       "throughput_msg_per_s", "reply_latency_s",
                                       "failed_conversations", "integrity")})
    print("throughput 2 vs 1:", result["throughput_2_vs_1"])
    for name in ("two_rasa", "one_rasa"):
        print(f"metrics at the busiest scrape ({name}); peaks {result[name]['metrics']['peaks']}")
        print(result[name]["metrics_excerpt"])
    clean = all(not any(counts[key] for counts in result[n]["integrity"].values()
                        for key in ("lost", "answered_twice", "twilio_twice", "out_of_order",
                                    "recorded_twice") if key in counts)
                and not result[n]["failed_conversations"] for n in ("two_rasa", "one_rasa"))
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
