"""Login timing: equal work for known and unknown numbers, and no worker held by the floor.

    .venv/bin/python -m bench.login_timing [--tries 200] [--burst 50] [--health 300]

1. Verification timing. The portal app on a temporary SQLite file with the demo data, called
   in-process through Flask's test client (the portal's own work, without network noise), on a
   frozen clock (moved on between code
   requests so that the per-number limits never answer instead of the code check). For each
   try, one conversation starts a login for a registered citizen (Kari) and one for an
   unknown number; each gives a wrong personal code (timed: one argon2 check either way),
   then a wrong SMS code. The account's failure counters are cleared
   between tries, so every try takes the wrong-code path rather than the back-off. Known and
   unknown tries alternate. Prints the median, p90 and mean of POST /login/code and
   POST /login/verify for both,
   and the median difference (the goal: below 1 ms).
2. The floor. The real portal server (`assistant portal`: gunicorn, gthread) in a subprocess;
   GET /health is timed alone, then once per round while `--burst` GET /health arrive at once
   (the cost of any burst on these cores), then while `--burst` invalid code requests (422s)
   arrive at once. Prints p50/p99 of /health in the three phases, the p99 ratio to /health
   alone (the goal: at most 2x) and to the harmless burst. The floor itself is awaited by the action server
   (actions/portal_client.py), not slept in the portal.

Only 127.0.0.1 is contacted; every loop is bounded; the server subprocess is always stopped.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

import requests

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-service-token"
KARI = "14838542035"
UNKNOWN = "11928824014"


def _percentile(values: List[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _summary(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "p90": _percentile(values, 0.9),
            "p99": _percentile(values, 0.99), "mean": statistics.fmean(values)}


def verify_timing(tries: int) -> Dict[str, Dict[str, float]]:
    from portal.app import create_app
    from portal.clock import FrozenClock
    from portal.config import Settings
    from portal.migrate import upgrade
    from portal.services import login
    from portal.services.demo import load_demo

    folder = Path(tempfile.mkdtemp(prefix="login-timing-"))
    settings = Settings(environment="test", database_url=f"sqlite:///{folder / 'p.sqlite3'}",
                        var_dir=folder, service_token=TOKEN, dispatch_token="d",
                        allow_synthetic_fnr=True,
                        identity_key="bench-identity-key", otp_codes_per_number_per_day=10 ** 6,
                        otp_codes_per_conversation_per_hour=10 ** 6,
                        otp_codes_global_per_minute=10 ** 6, otp_codes_global_per_hour=10 ** 6)
    clock = FrozenClock(datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc))
    app = create_app(settings, clock)
    portal = app.extensions["portal"]
    upgrade(portal.engine)
    with portal.sessions() as db:
        load_demo(db, settings, now=clock.now())
        db.commit()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timings: Dict[str, List[float]] = {"known": [], "unknown": [], "known code": [],
                                       "unknown code": []}
    http = app.test_client()  # the portal's own work, without the network's noise
    for n in range(tries + 10):  # the first ten warm up
        for label, fnr in (("known", KARI), ("unknown", UNKNOWN))[::1 if n % 2 else -1]:
            conversation = f"rest-{label}-{n}"
            clock.advance(minutes=11)  # past the 5-per-10-minutes window of each number
            answer = http.post("/api/v1/login/start", headers=headers, json={
                "fnr": fnr, "channel": "rest", "conversation_id": conversation})
            assert answer.status_code == 202, answer.get_data(as_text=True)
            started = time.perf_counter()  # a wrong personal code for Kari, any for unknown
            answer = http.post("/api/v1/login/code", headers=headers, json={
                "personal_code": "9999", "channel": "rest", "conversation_id": conversation})
            code_elapsed = (time.perf_counter() - started) * 1000
            assert answer.status_code == 202, answer.get_data(as_text=True)
            account = login._digest(settings, "fnr", fnr)
            for key in ("failures", "backoff", "lock"):
                portal.store.delete(f"otp:{key}:{account}")
            started = time.perf_counter()
            answer = http.post("/api/v1/login/verify", headers=headers, json={
                "code": "000000", "channel": "rest", "conversation_id": conversation})
            elapsed = (time.perf_counter() - started) * 1000
            assert answer.json["error"]["code"] == "wrong_code", answer.json
            if n >= 10:
                timings[label].append(elapsed)
                timings[f"{label} code"].append(code_elapsed)
    portal.engine.dispose()
    return {label: _summary(values) for label, values in timings.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health_under_burst(burst: int, samples: int, rounds: int,
                       root: Path = ROOT) -> Dict[str, Dict[str, float]]:
    folder = Path(tempfile.mkdtemp(prefix="login-floor-"))
    port = _free_port()
    env = {**os.environ, "ASSISTANT_VAR_DIR": str(folder), "ASSISTANT_ENV": "demo",
           "DATABASE_URL": f"sqlite:///{folder / 'p.sqlite3'}", "PORTAL_SERVICE_TOKEN": TOKEN,
           "LOGIN_RESPONSE_FLOOR_MS": "300"}
    env.pop("REDIS_URL", None)
    log = open(folder / "portal.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "assistant.cli", "portal", "--port",
                               str(port)], cwd=root, env={**env, "PYTHONPATH": str(root)}, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"the portal did not start; see {folder / 'portal.log'}")

        def health_times() -> List[float]:
            times = []
            with requests.Session() as http:
                for _ in range(samples):
                    started = time.perf_counter()
                    http.get(f"{url}/health", timeout=10).raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
            return times

        health_times()  # warm-up
        alone = health_times()
        statuses: List[int] = []

        def invalid_request(barrier: threading.Barrier, i: int) -> None:
            with requests.Session() as http:
                barrier.wait(timeout=30)
                answer = http.post(f"{url}/api/v1/login/start", timeout=30,
                                   headers={"Authorization": f"Bearer {TOKEN}"},
                                   json={"fnr": "12345678901", "channel": "rest",
                                         "conversation_id": f"attack-{i}"})
                statuses.append(answer.status_code)

        def probed(attack) -> List[float]:
            """/health timed once per round while `burst` calls of `attack` arrive at once."""
            loaded = []
            with requests.Session() as probe:
                probe.get(f"{url}/health", timeout=10)
                for _ in range(rounds):
                    barrier = threading.Barrier(burst + 1)
                    attackers = [threading.Thread(target=attack, args=(barrier, i))
                                 for i in range(burst)]
                    for thread in attackers:
                        thread.start()
                    barrier.wait(timeout=30)
                    time.sleep(0.005)  # the burst is in the server's queue
                    started = time.perf_counter()
                    probe.get(f"{url}/health", timeout=30).raise_for_status()
                    loaded.append((time.perf_counter() - started) * 1000)
                    for thread in attackers:
                        thread.join(timeout=60)
            return loaded

        def harmless_request(barrier: threading.Barrier, i: int) -> None:
            with requests.Session() as http:
                barrier.wait(timeout=30)
                http.get(f"{url}/health", timeout=30).raise_for_status()

        # The same number of the cheapest requests there are, in the same way: what any burst
        # costs on this machine's cores, against which the login path's own cost shows.
        harmless = probed(harmless_request)
        loaded = probed(invalid_request)
        assert set(statuses) == {422}, set(statuses)
        return {"alone": _summary(alone), "harmless": _summary(harmless),
                "burst": _summary(loaded), "invalid_requests": {"count": len(statuses)}}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=200)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--health", type=int, default=300, help="/health samples alone")
    parser.add_argument("--rounds", type=int, default=60, help="bursts, one /health each")
    parser.add_argument("--server-root", type=Path, default=ROOT,
                        help="a checkout whose portal to serve (e.g. an older commit's)")
    parser.add_argument("--burst-only", action="store_true")
    args = parser.parse_args()

    if not args.burst_only:
        verify_report(args.tries)
    health = health_under_burst(args.burst, args.health, args.rounds, args.server_root)
    for phase in ("alone", "harmless", "burst"):
        h = health[phase]
        print(f"/health {phase:8}: p50 {h['median']:.2f} ms, p99 {h['p99']:.2f} ms")
    ratio = health["burst"]["p99"] / health["alone"]["p99"]
    print(f"/health p99 with {args.burst} invalid code requests at a time "
          f"({health['invalid_requests']['count']} sent): {ratio:.2f}x (goal <= 2x): "
          f"{'met' if ratio <= 2 else 'NOT met'}")
    print(f"/health p99 with {args.burst} invalid code requests against {args.burst} GET "
          f"/health at a time: {health['burst']['p99'] / health['harmless']['p99']:.2f}x "
          "(1x: a login request holds nothing a request of any kind would not)")


def verify_report(tries: int) -> None:
    timing = verify_timing(tries)
    for step, suffix in (("personal code", " code"), ("verify", "")):
        for label in ("known", "unknown"):
            t = timing[label + suffix]
            print(f"{step}, {label:7} number: median {t['median']:.2f} ms, "
                  f"p90 {t['p90']:.2f} ms, mean {t['mean']:.2f} ms ({tries} tries)")
        difference = abs(timing["known" + suffix]["median"]
                         - timing["unknown" + suffix]["median"])
        print(f"{step}: median difference {difference:.2f} ms (goal < 1 ms): "
              f"{'met' if difference < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
