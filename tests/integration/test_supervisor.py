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


def test_a_service_started_nicer_runs_at_a_lower_cpu_priority_and_keeps_it(supervisor,
                                                                           tmp_path):
    """Turns run nicer than the portal: its niceness (and its session's scheduling group where
    the kernel has them) is raised in the child, and a restart keeps it."""
    report = tmp_path / "niceness"
    probe = [sys.executable, "-c",
             "import os, pathlib, time; group = pathlib.Path('/proc/self/autogroup');"
             f"pathlib.Path({str(report)!r}).write_text(str(os.nice(0)) + ' ' + "
             "(group.read_text().split()[-1] if group.exists() else '-'));"
             "time.sleep(600)"]
    parent = os.nice(0)
    service = supervisor.start("nicer", probe, "", niceness=7)
    deadline = time.monotonic() + 10
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    niceness, group = report.read_text().split()
    assert int(niceness) == min(parent + 7, 19)
    assert group in ("-", "7")
    report.unlink()
    os.killpg(service.process.pid, signal.SIGKILL)
    _wait_exit(service)
    supervisor.keep_alive()  # schedules the restart
    supervisor.test_clock.now += FIRST_BACKOFF + 0.1
    assert supervisor.keep_alive() == [service]
    deadline = time.monotonic() + 10
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(report.read_text().split()[0]) == min(parent + 7, 19)
