"""A load run over SMS (issue 11): many citizens' journeys at once against 2 Rasa servers and
then 1, in the same run.

    .venv/bin/python -m bench.load_run [--conversations 200 --messages 10000]

Each conversation is one synthetic citizen (valid synthetic fødselsnummer, a mobile, Kari
Nordmann's letters, offer and invoices) texting through the portal's Twilio webhook: log in
(fødselsnummer, INGEN for the personal code it does not have yet, the one-time code read from
the SMS the Twilio stand-in received, then choosing a personal code), list
and read letters, ask for unpaid invoices, accept the kindergarten place (and confirm JA), and
small talk until its share of messages is sent. Each message waits for its reply (closed loop,
a short think time). Every phase gets fresh citizens. Reported per phase: throughput, reply
latency (webhook accepted -> reply at the stand-in, 0.25 s polling) p50/p95/p99, lost /
answered twice / handed to Twilio twice / out of order, and CPU seconds and peak RSS per
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

from bench.assistant_stack import BenchStack, Webhooks, integrity, new_sid
from bench.citizens import Citizen, demo_identities, make_citizens
from bench.common import (RESULTS, ProcessMeter, code_revision, exit_on_signals, log,
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
                messages = self.stack.standin.captured()
            except Exception:  # noqa: BLE001 - retried on the next poll
                messages = []
            now = time.monotonic()
            with self.cond:
                for message in messages[self.seen:]:
                    self.by_number.setdefault(message["to"], []).append((now, message["body"]))
                self.seen = max(self.seen, len(messages))
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


def journey(citizen: Citizen, messages: int, rng: random.Random) -> List[Tuple[str, str]]:
    """(text, expected reply text) steps; "{code}" is filled from the one-time code SMS."""
    # Synthetic citizens have no personal code: INGEN, then they choose one after the code.
    steps = [("logg inn", "fødselsnummer"), (citizen.fnr, "personlige koden"),
             ("INGEN", "Engangskoden"), ("{code}", "Velg en personlig kode"), ("4826", "lagret")]
    blocks = [[("brev", "LES 1"), ("les 1", "")], [("faktura", "kr")],
              [("jeg vil takke ja til barnehageplassen", "JA"), ("JA", "takket ja")]]
    rng.shuffle(blocks)
    for block in blocks:
        steps.extend(block)
    while len(steps) < messages:
        steps.append((rng.choice(SMALL_TALK), ""))
    return steps[:max(messages, 5)]


def converse(hooks: Webhooks, inbox: Inbox, citizen: Citizen, steps, think: float,
             sent: List[str], latencies: List[float], failures: List[str], seed: int) -> None:
    rng, code = random.Random(seed), ""
    time.sleep(rng.random() * think * 4)
    for text, expect in steps:
        before = inbox.count(citizen.mobile)
        sid = new_sid()
        for _ in range(20):
            status, _ = hooks.sms(citizen.mobile, text.replace("{code}", code), sid)
            if status in (200, 409):
                break
            time.sleep(0.5)
        else:
            failures.append(f"webhook refused: {status}")
            return
        accepted = time.monotonic()
        sent.append(sid)
        got = inbox.wait(citizen.mobile, before, expect, timeout=180)
        if got is None:
            failures.append(f"no reply containing {expect!r} to {text!r}")
            return
        latencies.append(got[0] - accepted)
        if expect == "Engangskoden":
            match = CODE.search(got[1])
            code = match[1] if match else ""
        time.sleep(think * (0.5 + rng.random()))


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
    sent: Dict[str, List[str]] = {c.mobile: [] for c in citizens}
    latencies: List[float] = []
    failures: List[str] = []
    load_before = machine_load(sample_s=0)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(citizens)) as pool:
        for i, citizen in enumerate(citizens):
            steps = journey(citizen, per, random.Random(args.seed + i))
            pool.submit(converse, hooks, inbox, citizen, steps, args.think, sent[citizen.mobile],
                        latencies, failures, args.seed + i)
    wall = time.monotonic() - start
    done.set()
    time.sleep(1)
    meter.sample()
    scraped = scraper.stop()
    stack.stop_workers()
    checks = integrity(stack.url, sent, stack.standin.captured())
    replies = len(latencies)
    return {"rasa_servers": len(rasa_urls), "conversations": len(citizens),
            "messages_sent": checks.pop("sent"), "replies": replies, "wall_s": round(wall, 1),
            "throughput_msg_per_s": round(replies / wall, 2) if wall else None,
            "reply_latency_s": stats(latencies, digits=2), "failures": failures[:20],
            "failed_conversations": len(failures), "integrity": checks,
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
    stack = BenchStack(rasa_instances=2, redis_url=args.redis_url, citizens=citizens)
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
    clean = all(not (result[n]["integrity"]["lost"] or result[n]["integrity"]["answered_twice"]
                     or result[n]["integrity"]["twilio_twice"]
                     or result[n]["integrity"]["out_of_order"]) for n in ("two_rasa", "one_rasa"))
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
