"""`assistant sms-worker` as a real process: crashes, restarts, and SMS sent exactly once."""
from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner

from assistant.cli import main, sms_worker_args
from portal.config import Settings
from portal.sms.sender import SendPolicy, claim_due, drain
from tests.sms_fixtures import (add_sms, load_sms, sms_portal, sms_settings,  # noqa: F401
                                start_worker, status_receiver, twilio, twilio_settings, utcnow,
                                worker_env)
from tests.twilio_standin import wait_until

# Short leases so a restarted worker may take over quickly; the request timeout stays below.
FAST = ["--interval", "0.05", "--lease-seconds", "2.5", "--request-timeout", "1.5"]


def test_without_twilio_the_worker_says_sms_stay_in_the_dev_outbox(tmp_path):
    from portal.migrate import upgrade
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    upgrade(create_engine(url, future=True))
    env = {"ASSISTANT_ENV": "test", "ASSISTANT_VAR_DIR": str(tmp_path), "DATABASE_URL": url,
           "TWILIO_ACCOUNT_SID": None, "TWILIO_AUTH_TOKEN": None}
    result = CliRunner().invoke(main, ["sms-worker", "--once"], env=env)

    assert result.exit_code == 0, result.output
    assert "without Twilio" in result.output and "dev outbox" in result.output


def test_assistant_up_runs_the_worker(twilio):
    assert sms_worker_args(Settings())[-3:] == ["-m", "assistant.cli", "sms-worker"]


def test_a_lease_shorter_than_the_request_timeout_is_refused(worker_env):
    result = CliRunner().invoke(
        main, ["sms-worker", "--once", "--lease-seconds", "5", "--request-timeout", "10"],
        env=worker_env)

    assert result.exit_code == 2 and "shorter than lease_seconds" in result.output


def test_killed_mid_request_the_sms_goes_out_once_after_a_restart(sms_portal, twilio,
                                                                  start_worker):
    row_id = add_sms(sms_portal, now=utcnow())
    twilio.delay_next(120)  # Twilio takes its time: the request is still open when we kill

    first = start_worker(*FAST)
    wait_until(lambda: twilio.in_flight == 1, 60, what=f"the worker's request\n{first.log}")
    first.kill()
    wait_until(lambda: twilio.outcomes() == ["abandoned"], 30, what="the stand-in to notice")

    row = load_sms(sms_portal, row_id)
    assert twilio.messages == []
    assert (row.status, row.attempts, row.provider_sid) == ("sending", 1, None)
    wait_until(lambda: utcnow() > row.lease_until, 30, what="the dead worker's lease to lapse")

    second = start_worker(*FAST)
    wait_until(lambda: load_sms(sms_portal, row_id).provider_sid, 60,
               what=f"the restarted worker to send\n{second.log}")
    assert second.stop() == 0, second.log  # SIGTERM: a clean stop

    [message] = twilio.messages
    row = load_sms(sms_portal, row_id)
    assert (row.status, row.attempts, row.provider_sid) == ("queued", 2, message["sid"])
    # The dead worker's request may have reached Twilio: the new one asks before it sends.
    assert twilio.outcomes() == ["abandoned", "listed", "accepted"]
    assert twilio.violations == []


def test_written_but_never_sent_goes_out_once_after_a_restart(sms_portal, twilio, worker_env):
    # Written by processes that died before any worker ran, and one claimed by a worker that
    # died before its request left (its lease has lapsed since). The restart runs in-process:
    # the real kill is the test above.
    written = [add_sms(sms_portal, now=utcnow(), body=f"Skrevet {n}") for n in range(2)]
    claimed = add_sms(sms_portal, now=utcnow() - timedelta(hours=1), body="Tatt")
    with sms_portal.sessions() as db:
        [row] = claim_due(db, utcnow() - timedelta(minutes=30), 1)
        assert row.id == claimed

    result = CliRunner().invoke(main, ["sms-worker", "--once", "--batch", "2"], env=worker_env)

    assert result.exit_code == 0, result.output
    assert "3 sent" in result.output
    assert sorted(m["body"] for m in twilio.messages) == ["Skrevet 0", "Skrevet 1", "Tatt"]
    assert {load_sms(sms_portal, i).status for i in (*written, claimed)} == {"queued"}
    again = drain(sms_portal, utcnow() + timedelta(days=1), policy=SendPolicy())
    assert again.claimed == 0 and twilio.violations == []
    # Three sends, and one look-up for the row whose sender died holding it.
    assert sorted(r.method for r in twilio.requests) == ["GET", "POST", "POST", "POST"]
