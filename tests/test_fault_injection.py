"""The short fault-injection run: the real stack on PostgreSQL + Redis with 2 Rasa servers and
2 turn workers under a steady SMS load; a turn worker, a Rasa server and the SMS worker are
SIGKILLed in turn and come back. Nothing may be lost, answered twice, sent twice or reordered.
(The full run, with the action server, the portal, Redis and PostgreSQL: bench/fault_injection.py.)
"""
import pytest

from bench.fault_injection import parse_args, run

pytestmark = pytest.mark.slow


def test_killed_processes_lose_double_and_reorder_nothing(e2e_redis_url, tmp_path):
    args = parse_args(["--faults", "turn-worker,rasa,sms-worker", "--senders", "6",
                       "--rate", "2", "--redis-url", e2e_redis_url,
                       "--output", str(tmp_path / "faults.json")])
    result = run(args, report=lambda outcome: None)

    assert [f["fault"] for f in result["faults"]] == ["turn-worker", "rasa", "sms-worker"]
    for outcome in result["faults"]:
        assert outcome["drained"], outcome
        assert outcome["recover_s"] != float("inf"), outcome  # a citizen got an answer again
        assert (outcome["lost"], outcome["answered_twice"], outcome["twilio_twice"],
                outcome["out_of_order"]) == (0, 0, 0, 0), outcome
    assert result["faults"][-1]["messages_so_far"] > 20
    # The killed supervised processes were started again by the supervisor.
    assert result["restarts"]["rasa"] == 1 and result["restarts"]["sms-worker"] == 1
