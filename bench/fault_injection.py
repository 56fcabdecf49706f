"""Fault injection against the real processes (issue 11): under a steady SMS load, SIGKILL each
process in turn and let it come back, then restart Redis and PostgreSQL.

    .venv/bin/python -m bench.fault_injection [--senders 20 --rate 4 --faults all]

The stack runs on PostgreSQL + Redis with 2 Rasa servers and 2 turn workers; the supervisor
of `assistant up` (keep_alive) restarts what dies, the bench restarts the turn worker it
killed. Each sender sends its SMS one after the other; a webhook that fails (the portal is
down) is retried with the same MessageSid, as Twilio's retry would. After each fault: the
time until a citizen who writes right after the kill gets an answer (recovery), then the load
pauses, the backlog drains, and every message so far is checked: lost, answered twice, handed
to Twilio twice (from the stand-in's log), offers answered twice, out of order.
Redis and PostgreSQL are shared with other engineers' tests: they are restarted last, once.
Writes bench/results/fault_injection.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from bench.assistant_stack import BenchStack, Webhooks, integrity, new_sid, progress
from bench.common import RESULTS, ROOT, code_revision, exit_on_signals, log, machine_load

FAULTS = ("turn-worker", "rasa", "actions", "portal", "sms-worker", "redis", "postgres")
TEXTS = ["Hei", "Hvilke brev har jeg?", "Jeg vil betale faktura", "Har jeg fått barnehageplass?",
         "Takk", "Hva kan du hjelpe med?", "Kan jeg snakke med en person?"]


class SteadyLoad:
    """`senders` citizens, each sending an SMS every senders/rate seconds, in order: the next
    one only once the previous was accepted (200, or 409 for a retry that got through)."""

    def __init__(self, hooks: Webhooks, senders: int, rate: float, seed: int):
        rng = random.Random(seed)
        self.hooks, self.period = hooks, senders / rate
        self.numbers = [f"+47498{n:05d}" for n in rng.sample(range(100000), senders)]
        self.sent: Dict[str, List[str]] = {n: [] for n in self.numbers}
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._sender, args=(n, seed + i), daemon=True)
                        for i, n in enumerate(self.numbers)]

    def start(self) -> None:
        self.running.set()
        for thread in self.threads:
            thread.start()

    def _sender(self, number: str, seed: int) -> None:
        rng = random.Random(seed)
        time.sleep(rng.random() * self.period)
        while not self.stopped.is_set():
            self.running.wait()
            sid = new_sid()
            deliver(self.hooks, number, rng.choice(TEXTS), sid, self.stopped)
            self.sent[number].append(sid)
            time.sleep(self.period)

    def pause(self) -> None:
        self.running.clear()
        time.sleep(self.period + 1)  # senders finish the message in hand

    def stop(self) -> None:
        self.stopped.set()
        self.running.set()


def deliver(hooks: Webhooks, number: str, body: str, sid: str,
            stop: Optional[threading.Event] = None, timeout: float = 300) -> float:
    """Posts until the portal accepts it (Twilio retries a failed webhook); returns when."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        status, _ = hooks.sms(number, body, sid)
        if status in (200, 409):
            return time.monotonic()
        time.sleep(0.5)
    raise RuntimeError(f"the portal did not accept {sid} within {timeout} s")


def offers_answered_twice(url: str) -> int:
    """Kindergarten offers with more than one recorded answer in the audit log."""
    from sqlalchemy import text

    from bench.assistant_stack import _engine

    with _engine(url).connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM (SELECT object_id FROM audit_events WHERE action IN "
            "('offer.accept', 'offer.decline') GROUP BY object_id HAVING count(*) > 1) twice"
        )).scalar()


# --------------------------------------------------------------------------------------------
# The faults


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def inject(stack: BenchStack, fault: str) -> None:
    """SIGKILLs the process (its whole group), or restarts Redis / PostgreSQL."""
    if fault == "turn-worker":
        stack.restart_worker(0)
    elif fault in ("rasa", "actions", "portal", "sms-worker"):
        kill_group(stack.service(fault).process.pid)  # the supervisor brings it back
    elif fault == "redis":
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"],
                       check=False, capture_output=True)
        time.sleep(2)
        subprocess.run([str(ROOT / "scripts" / "services")], check=False, capture_output=True)
    elif fault == "postgres":
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main",
                        "restart"], check=False, capture_output=True)
    else:
        raise ValueError(fault)


def recovery(stack: BenchStack, hooks: Webhooks, probe: str, killed_at: float,
             timeout: float = 300) -> float:
    """Seconds from the kill until a citizen who writes right then gets an answer."""
    before = sum(1 for m in stack.standin.captured() if m["to"] == probe)
    deliver(hooks, probe, "Hei", new_sid(), timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for m in stack.standin.captured() if m["to"] == probe) > before:
            return round(time.monotonic() - killed_at, 1)
        time.sleep(0.3)
    return float("inf")


def drain(stack: BenchStack, sids: List[str], timeout: float = 600) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = progress(stack.url, sids)
            if state["processed"] == len(sids) and state["unsent"] == 0:
                return True
        except Exception:  # noqa: BLE001 - PostgreSQL may be restarting
            pass
        time.sleep(0.5)
    return False


def run_fault(stack: BenchStack, load: SteadyLoad, hooks: Webhooks, fault: str,
              probe: str) -> Dict[str, Any]:
    log(f"fault: {fault}")
    load.running.set()
    time.sleep(5)  # steady load before the fault
    killed_at = time.monotonic()
    inject(stack, fault)
    recovered = recovery(stack, hooks, probe, killed_at)
    time.sleep(3)
    load.pause()
    sent = {n: list(s) for n, s in load.sent.items()}
    sids = [sid for seq in sent.values() for sid in seq]
    drained = drain(stack, sids)
    checks = integrity(stack.url, sent, stack.standin.captured())
    checks.pop("sent")
    return {"fault": fault, "recover_s": recovered, "drained": drained,
            "messages_so_far": len(sids), **checks,
            "offers_answered_twice": offers_answered_twice(stack.url),
            "load": machine_load(sample_s=0)}


def keep_alive(stack: BenchStack, stop: threading.Event) -> None:
    """What `assistant up` does: restarts a supervised process that died."""
    while not stop.is_set():
        stack.supervisor.keep_alive()
        time.sleep(0.5)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--rate", type=float, default=4.0, help="SMS per second in all")
    parser.add_argument("--faults", default="all",
                        help=f"comma-separated, from {','.join(FAULTS)} (in this order)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--output", default=str(RESULTS / "fault_injection.json"))
    return parser.parse_args(argv)


def run(args: argparse.Namespace, report: Callable[[Dict[str, Any]], None] = print
        ) -> Dict[str, Any]:
    faults = FAULTS if args.faults == "all" else tuple(
        f for f in FAULTS if f in args.faults.split(","))
    result: Dict[str, Any] = {"revision": code_revision(), "load_at_start": machine_load(),
                              "args": vars(args), "faults": []}
    stack = BenchStack(rasa_instances=2, redis_url=args.redis_url)
    stop = threading.Event()
    load = None
    try:
        stack.start()
        stack.start_workers(2)
        threading.Thread(target=keep_alive, args=(stack, stop), daemon=True).start()
        hooks = Webhooks(stack)
        load = SteadyLoad(hooks, args.senders, args.rate, args.seed)
        load.start()
        for index, fault in enumerate(faults):
            outcome = run_fault(stack, load, hooks, fault, f"+4749799{index:03d}")
            report(outcome)
            result["faults"].append(outcome)
    finally:
        if load:
            load.stop()
        stop.set()
        stack.stop()
    result["restarts"] = {s.name: s.restarts for s in stack.supervisor.services}
    return result


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    exit_on_signals()
    result = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2, default=str)
    bad = [f for f in result["faults"] if not f["drained"] or f["lost"] or f["answered_twice"]
           or f["twilio_twice"] or f["out_of_order"] or f["offers_answered_twice"]
           or f["recover_s"] == float("inf")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
