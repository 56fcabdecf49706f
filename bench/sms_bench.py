"""The SMS gateway under a burst (issue 7): webhook ack latency and backlog drain.

    .venv/bin/python -m bench.sms_bench [--messages 500 --numbers 100 --rate 50 --workers 2]

Twilio's webhooks go to the portal (`/webhooks/twilio/sms`), turn workers run the turns on the
Rasa servers, the SMS worker hands replies to the Twilio stand-in. One stack with two Rasa
servers; the same burst is run twice in the same run, first with the turn workers pointed at
both Rasa servers, then at one, so the drain times compare like with like. During each burst
`/health` on the same portal is probed at the same rate: the ack p99 is judged against it.

Targets: ack p99 < 100 ms and at most 2x the /health p99; drain with 2 Rasa servers at least
1.5x faster than with 1; 0 lost, 0 answered twice, 0 handed to Twilio twice, 0 out of order.

`--fault rasa` (or turn-worker, actions, sms-worker) adds a third burst on 2 Rasa servers during
which that process is SIGKILLed a third of the way in and brought back as `assistant up` does
(the supervisor's keep_alive; the bench restarts a turn worker itself): the same targets hold
while it restarts. Writes bench/results/sms.json.
"""
from __future__ import annotations

import argparse
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

from bench.assistant_stack import BenchStack, Webhooks, integrity, new_sid, progress
from bench.common import (RESULTS, ProcessMeter, code_revision, exit_on_signals, log,
                          machine_load, ratio, stats)
from bench.fault_injection import inject, keep_alive

# The webhook's own processes (portal, Redis, PostgreSQL) are fault_injection.py's: here the
# acks must hold while a process the webhook does not wait for dies and restarts.
BURST_FAULTS = ("rasa", "turn-worker", "actions", "sms-worker")

TEXTS = ["Hei", "Hvilke brev har jeg fått?", "Jeg vil betale fakturaen min",
         "Har jeg fått plass i barnehagen?", "Når er det tømming av søppel?",
         "Takk for hjelpen", "Jeg vil logge inn", "Kan jeg snakke med en person?",
         "Hvor mye skylder jeg kommunen?", "hjelp"]


def numbers(count: int, rng: random.Random) -> List[str]:
    """Norwegian mobile numbers nobody in the demo data has (the 4x9 range is unassigned)."""
    return [f"+47499{n:05d}" for n in rng.sample(range(100000), count)]


def burst(hooks: Webhooks, senders: List[str], messages: int, rate: float,
          rng: random.Random) -> Dict[str, Any]:
    """`messages` webhooks at `rate` per second, round robin over the senders, and as many
    /health probes half way between them; returns latencies and what each sender sent."""
    plan = [(i / rate, senders[i % len(senders)], rng.choice(TEXTS), new_sid())
            for i in range(messages)]
    acks: List[float] = []
    probes: List[float] = []
    failures: List[int] = []
    refused: set = set()
    start = time.monotonic() + 0.2

    def shoot(at: float, call, into: List[float], sid: str = "") -> None:
        time.sleep(max(0.0, start + at - time.monotonic()))
        status, seconds = call()
        if status == 200:
            into.append(seconds * 1000)
        else:
            failures.append(status)
            refused.add(sid)

    with ThreadPoolExecutor(max_workers=24) as pool:
        for at, sender, body, sid in plan:
            pool.submit(shoot, at, lambda s=sender, b=body, i=sid: hooks.sms(s, b, i), acks,
                        sid)
            pool.submit(shoot, at + 0.5 / rate, hooks.health, probes, "health")
    # Twilio does not retry a failed inbound webhook: a refused SMS is lost at the door.
    sent: Dict[str, List[str]] = {s: [] for s in senders}
    for _, sender, _, sid in plan:
        if sid not in refused:
            sent[sender].append(sid)
    return {"sent": sent, "acks_ms": acks, "health_ms": probes, "failures": failures,
            "refused_sms": len(refused - {"health"}), "started": start}


def wait_drained(stack: BenchStack, sids: List[str], started: float,
                 timeout: float) -> Dict[str, Any]:
    """Seconds from the first webhook until every SMS is processed and every reply is handed
    to Twilio (the outbox is empty)."""
    processed_at: Optional[float] = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = progress(stack.url, sids)
        if processed_at is None and state["processed"] == len(sids):
            processed_at = time.monotonic()
        if processed_at is not None and state["unsent"] == 0:
            now = time.monotonic()
            return {"turns_done_s": round(processed_at - started, 1),
                    "replies_sent_s": round(now - started, 1), **state}
        time.sleep(0.25)
    return {"timed_out": True, **progress(stack.url, sids)}


def phase(stack: BenchStack, args: argparse.Namespace, rasa_urls: List[str],
          rng: random.Random, fault: Optional[str] = None) -> Dict[str, Any]:
    log(f"phase: {len(rasa_urls)} Rasa server(s), {args.workers} turn workers"
        + (f", {fault} killed during the burst" if fault else ""))
    stack.start_workers(args.workers, rasa_urls)
    if fault:
        threading.Timer(args.messages / args.rate / 3, inject, (stack, fault)).start()
    meter = ProcessMeter()
    for name, pid in stack.pids().items():
        meter.track(name, pid)
    hooks = Webhooks(stack)
    load_before = machine_load(sample_s=0)
    shot = burst(hooks, numbers(args.numbers, rng), args.messages, args.rate, rng)
    sids = [sid for seq in shot["sent"].values() for sid in seq]
    drained = wait_drained(stack, sids, shot["started"], args.timeout)
    time.sleep(1.0)  # let the last status callbacks land
    meter.sample()
    stack.stop_workers()
    checks = integrity(stack.url, shot["sent"], stack.standin.captured())
    acks, health = stats(shot["acks_ms"]), stats(shot["health_ms"])
    return {"rasa_servers": len(rasa_urls), "fault": fault, "ack_ms": acks, "health_ms": health,
            "ack_p99_over_health_p99": ratio(acks.get("p99"), health.get("p99")),
            "failed_requests": shot["failures"][:20], "drain": drained,
            "integrity": {**{k: v for k, v in checks.items() if k != "sent"},
                          "lost": checks["lost"] + shot["refused_sms"],
                          "refused_at_webhook": shot["refused_sms"]},
            "load_before": load_before, "load_after": machine_load(sample_s=0),
            "cpu": meter.report()}


def warm_up(stack: BenchStack, rng: random.Random) -> None:
    """A few turns on every Rasa server, so neither phase pays for first-call costs."""
    stack.start_workers(1)
    hooks = Webhooks(stack)
    shot = burst(hooks, numbers(10, rng), 20, 10, rng)
    wait_drained(stack, [s for seq in shot["sent"].values() for s in seq], shot["started"], 300)
    stack.stop_workers()


def verdict(one: Dict[str, Any], two: Dict[str, Any]) -> Dict[str, Any]:
    def clean(p: Dict[str, Any]) -> bool:
        c = p["integrity"]
        return not (c["lost"] or c["answered_twice"] or c["twilio_twice"] or c["out_of_order"]
                    or p["drain"].get("timed_out"))

    drain_ratio = ratio(one["drain"].get("replies_sent_s"), two["drain"].get("replies_sent_s"))
    worst_ack = max(one["ack_ms"]["p99"], two["ack_ms"]["p99"])
    worst_rel = max(one["ack_p99_over_health_p99"] or 99, two["ack_p99_over_health_p99"] or 99)
    return {"drain_speedup_2_vs_1": drain_ratio,
            "ack_p99_under_100ms": worst_ack < 100, "ack_p99_at_most_2x_health": worst_rel <= 2,
            "drain_speedup_at_least_1_5": bool(drain_ratio and drain_ratio >= 1.5),
            "no_loss_doubling_reordering": clean(one) and clean(two)}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--numbers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks per second")
    parser.add_argument("--workers", type=int, default=2, help="turn workers per phase")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to drain")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--fault", choices=BURST_FAULTS,
                        help="also burst once more while this process is killed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", default=str(RESULTS / "sms.json"))
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    rng = random.Random(args.seed)
    result: Dict[str, Any] = {"revision": code_revision(), "load_at_start": machine_load(),
                              "args": vars(args)}
    stack = BenchStack(rasa_instances=2, redis_url=args.redis_url)
    stop = threading.Event()
    try:
        stack.start()
        threading.Thread(target=keep_alive, args=(stack, stop), daemon=True).start()
        warm_up(stack, rng)
        result["two_rasa"] = phase(stack, args, stack.rasa_urls, rng)
        result["one_rasa"] = phase(stack, args, stack.rasa_urls[:1], rng)
        if args.fault:
            result["with_fault"] = phase(stack, args, stack.rasa_urls, rng, args.fault)
    finally:
        stop.set()
        stack.stop()
    result["verdict"] = verdict(result["one_rasa"], result["two_rasa"])
    if args.fault:
        faulted = result["with_fault"]
        result["verdict"]["with_fault"] = {
            "ack_p99_under_100ms": faulted["ack_ms"]["p99"] < 100,
            "ack_p99_at_most_2x_health": (faulted["ack_p99_over_health_p99"] or 99) <= 2,
            "no_loss_doubling_reordering": not any(
                faulted["integrity"][k] for k in ("lost", "answered_twice", "twilio_twice",
                                                  "out_of_order"))
            and not faulted["drain"].get("timed_out")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2, default=str)
    print(json.dumps({k: result[k] for k in ("verdict", "load_at_start")}, indent=2))
    for name in ("two_rasa", "one_rasa", "with_fault")[:3 if args.fault else 2]:
        p = result[name]
        print(name, "ack", p["ack_ms"], "health", p["health_ms"], "drain", p["drain"],
              "integrity", p["integrity"], "machine busy %", p["cpu"]["machine_busy_pct"])
    checks = [v for k, v in result["verdict"].items() if k not in ("drain_speedup_2_vs_1",
                                                                     "with_fault")]
    checks += list(result["verdict"].get("with_fault", {}).values())
    return 0 if all(checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
