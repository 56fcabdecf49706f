"""`assistant up`'s supervisor: a process that exits comes back, with back-off, alone."""
from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from assistant.processes import FIRST_BACKOFF, MAX_BACKOFF, STABLE_AFTER, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
CRASHER = [sys.executable, "-c", "import sys; sys.exit(3)"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def supervisor(tmp_path):
    clock = Clock()
    sup = Supervisor(dict(os.environ), log_dir=tmp_path / "logs", clock=clock)
    sup.test_clock = clock
    yield sup
    sup.stop()


def _wait_exit(service, timeout=10.0):
    deadline = time.monotonic() + timeout
    while service.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.process.poll() is not None


def test_a_killed_process_is_restarted_and_the_others_keep_running(supervisor, caplog):
    victim = supervisor.start("victim", SLEEPER, "")
    bystander = supervisor.start("bystander", SLEEPER, "")
    victim_pid, bystander_pid = victim.process.pid, bystander.process.pid

    os.killpg(victim_pid, signal.SIGKILL)
    _wait_exit(victim)
    with caplog.at_level("WARNING", logger="assistant.supervisor"):
        assert supervisor.keep_alive() == []          # scheduled, not yet due
        supervisor.test_clock.now += FIRST_BACKOFF
        assert supervisor.keep_alive() == [victim]    # due: started again

    assert victim.process.poll() is None and victim.process.pid != victim_pid
    assert bystander.process.poll() is None and bystander.process.pid == bystander_pid
    assert victim.restarts == 1
    assert "victim stopped (killed by SIGKILL)" in caplog.text
    assert "victim restarted" in caplog.text


def test_back_off_grows_while_a_process_keeps_crashing_and_resets_when_stable(supervisor):
    crasher = supervisor.start("crasher", CRASHER, "")
    waits = []
    for _ in range(8):
        _wait_exit(crasher)
        supervisor.keep_alive()
        waits.append(crasher.restart_at - supervisor.test_clock.now)
        supervisor.test_clock.now = crasher.restart_at
        assert supervisor.keep_alive() == [crasher]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert MAX_BACKOFF == 60

    _wait_exit(crasher)
    supervisor.test_clock.now += STABLE_AFTER  # it had stayed up a long time before this exit
    crasher.started_at = supervisor.test_clock.now - STABLE_AFTER
    supervisor.keep_alive()
    assert crasher.restart_at - supervisor.test_clock.now == FIRST_BACKOFF
