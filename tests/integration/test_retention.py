"""The retention purge on SQLite and PostgreSQL (portal and tracker database alike), with a
frozen clock: content older than CONVERSATION_RETENTION_DAYS is erased everywhere, rows and
figures stay, held conversations are left alone; `assistant purge` and the daily run."""
from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from assistant.cli import main
from portal.conversations import service, workspace
from portal.conversations.sms_inbox import queue_reply
from portal.models import (AuditEvent, Channel, ConversationNote, InboundSms, OutboundSms,
                           StaffMember, TranscriptMessage)
from portal.services import retention
from portal.sms.worker import run as sms_worker
from portal.tracker_db import TrackerDb
from tests.conftest import T0
from tests.retention_helpers import (found_in_database, retention_settings,  # noqa: F401
                                     save_turns, tracker_store, tracker_url)
from tests.staff_helpers import create_staff

OLD = T0 - timedelta(days=31)
RECENT = T0 - timedelta(days=29)


def web(db, key: str, texts, at):
    conversation = service.open_conversation(db, Channel.WEBCHAT, key, at)
    for said in texts:
        message = service.record_citizen_message(db, conversation, said, at).message
        service.record_bot_replies(db, conversation, message.id, [{"text": "Svar: " + said}],
                                   at)
    db.commit()
    return conversation


def sms(db, settings, phone: str, body: str, at):
    row = service.record_inbound(db, settings, message_sid="SM" + os.urandom(8).hex(),
                                 phone=phone, body=body, num_media=0, now=at)
    row.status = "processed"
    queue_reply(db, settings, row.sender_key, "Svar: " + body, now=at, commit=False)
    db.execute(OutboundSms.__table__.update().values(status="delivered"))
    db.commit()
    return row.sender_key


@pytest.fixture
def arranged(app, retention_settings, clock):
    """An old web chat, a recent one, an old SMS conversation, an old held one; trackers."""
    portal = app.extensions["portal"]
    with portal.sessions() as db:
        old = web(db, "web-old", ["gammel hemmelighet"], OLD)
        recent = web(db, "web-recent", ["ny melding om faktura"], RECENT)
        held = web(db, "web-held", ["holdt klage"], OLD)
        held.held_at, held.held_by, held.hold_reason = T0, 1, "klagesak"
        db.add(ConversationNote(conversation_id=old.id, staff_id=1, staff_name="Siri",
                                text="notat om hemmelighet", at=OLD))
        key = sms(db, retention_settings, "+4791234567", "gammel sms-tekst", OLD)
        db.commit()
    store = tracker_store(retention_settings.tracker_url)
    asyncio.run(save_turns(store, "web-old", ["gammel hemmelighet"], OLD.timestamp()))
    asyncio.run(save_turns(store, "web-recent", ["ny melding om faktura"],
                           RECENT.timestamp()))
    asyncio.run(save_turns(store, "web-held", ["holdt klage"], OLD.timestamp()))
    asyncio.run(save_turns(store, "web-live", ["forrige økt"], OLD.timestamp()))
    asyncio.run(save_turns(store, "web-live", ["denne økta"], T0.timestamp()))
    store.engine.dispose()
    return {"old": old.id, "recent": recent.id, "held": held.id, "sms": key}


def purge(app, settings, clock):
    with app.extensions["portal"].sessions() as db:
        return retention.purge(db, settings, clock.now())


def texts_of(app, conversation_id):
    with app.extensions["portal"].sessions() as db:
        return [(m.text, m.erased_at is not None) for m in db.execute(
            select(TranscriptMessage).where(TranscriptMessage.conversation_id == conversation_id)
            .order_by(TranscriptMessage.id)).scalars()]


def test_purge_erases_old_content_everywhere_and_keeps_rows_figures_and_holds(
        app, retention_settings, clock, arranged):
    portal = app.extensions["portal"]
    (retention_settings.var_dir / "logs").mkdir(exist_ok=True)
    with portal.sessions() as db:
        db.add(StaffMember(email="a@b.no", name="Anne Admin", role="admin", created_at=T0))
        db.commit()
        member = db.execute(select(StaffMember)).scalar_one()
        weeks_before = [(w.start, w.conversations, w.bot_alone)
                        for w in workspace.weekly(db, member, OLD - timedelta(days=7), T0, T0)]

    done = purge(app, retention_settings, clock)

    assert texts_of(app, arranged["old"]) == [("", True), ("", True)]
    assert texts_of(app, arranged["recent"]) == [("ny melding om faktura", False),
                                                 ("Svar: ny melding om faktura", False)]
    assert texts_of(app, arranged["held"]) == [("holdt klage", False),
                                               ("Svar: holdt klage", False)]
    for secret in ("gammel hemmelighet", "notat om hemmelighet", "gammel sms-tekst"):
        assert found_in_database(retention_settings.database_url, secret) == []
        assert found_in_database(retention_settings.tracker_url, secret) == []
    assert found_in_database(retention_settings.database_url, "holdt klage")
    assert found_in_database(retention_settings.tracker_url, "holdt klage")
    assert found_in_database(retention_settings.tracker_url, "ny melding om faktura")
    assert (done.messages, done.notes, done.inbound_sms, done.outbound_sms) == (3, 1, 1, 1)
    tracker = TrackerDb(retention_settings.tracker_url)
    try:
        assert tracker.count("web-old") == 0
        assert tracker.count("web-held") > 0 and tracker.count("web-recent") > 0
    finally:
        tracker.close()
    with portal.sessions() as db:
        assert db.execute(select(InboundSms.body)).scalars().all() == [""]
        weeks_after = [(w.start, w.conversations, w.bot_alone)
                       for w in workspace.weekly(db, member, OLD - timedelta(days=7), T0, T0)]
        audit = db.execute(select(AuditEvent).where(AuditEvent.action == "retention.purge")
                           ).scalar_one()
    assert weeks_after == weeks_before and sum(w[1] for w in weeks_after) == 4
    assert audit.detail["messages"] == 3 and audit.detail["held"] == 1
    assert "hemmelighet" not in str(audit.detail)

    again = purge(app, retention_settings, clock)
    assert (again.messages, again.notes, again.inbound_sms, again.tracker_events) == (0, 0, 0, 0)


def test_a_live_conversation_keeps_its_current_session_and_rasa_goes_on(
        app, retention_settings, clock, arranged):
    purge(app, retention_settings, clock)
    store = tracker_store(retention_settings.tracker_url)
    try:
        tracker = asyncio.run(store.retrieve("web-live"))
        said = [e.text for e in tracker.events if getattr(e, "text", None)]
        assert said == ["denne økta", "svar på denne økta"]
        assert found_in_database(retention_settings.tracker_url, "forrige økt") == []
        # Rasa saves the next turn after the purge without repeating stored events.
        asyncio.run(save_turns(store, "web-live", ["neste"], T0.timestamp() + 60,
                               new_session=False))
        tracker = asyncio.run(store.retrieve("web-live"))
        said = [e.text for e in tracker.events if getattr(e, "text", None)]
        assert said == ["denne økta", "svar på denne økta", "neste", "svar på neste"]
    finally:
        store.engine.dispose()


def test_lifting_a_hold_lets_the_next_purge_erase(app, retention_settings, clock, arranged):
    account = create_staff(app, clock, "siri@bergen.kommune.no")
    portal = app.extensions["portal"]
    with portal.sessions() as db:
        member = db.get(StaffMember, account.id)
        conversation = workspace.get(db, arranged["held"])
        conversation.held_by = member.id
        retention.lift_hold(db, conversation, member, clock.now())
        db.commit()
    purge(app, retention_settings, clock)
    assert texts_of(app, arranged["held"]) == [("", True), ("", True)]
    assert found_in_database(retention_settings.tracker_url, "holdt klage") == []


def test_old_log_files_go_and_recent_ones_stay(app, retention_settings, clock):
    logs = retention_settings.var_dir / "logs"
    logs.mkdir()
    for name in ("rasa.log", "rasa.log.1", "portal.log", "portal.log.2.gz"):
        (logs / name).write_text("linje\n")
    old, recent = OLD.timestamp(), RECENT.timestamp()
    for name, at in (("rasa.log", old), ("rasa.log.1", old), ("portal.log", recent),
                     ("portal.log.2.gz", recent)):
        os.utime(logs / name, (at, at))
    assert purge(app, retention_settings, clock).log_files == 2
    assert sorted(p.name for p in logs.iterdir()) == ["portal.log", "portal.log.2.gz",
                                                      "rasa.log"]
    assert (logs / "rasa.log").read_text() == "" and (logs / "portal.log").read_text()


def test_the_retention_period_is_a_setting(app, retention_settings, clock, arranged):
    import dataclasses

    longer = dataclasses.replace(retention_settings, conversation_retention_days=60)
    assert purge(app, longer, clock).messages == 0
    assert texts_of(app, arranged["old"])[0] == ("gammel hemmelighet", False)


def test_assistant_purge_from_cron(app, retention_settings, clock, arranged, monkeypatch):
    monkeypatch.setattr("portal.bootstrap.Clock", lambda: clock)
    env = {"DATABASE_URL": retention_settings.database_url, "ASSISTANT_ENV": "test",
           "ASSISTANT_VAR_DIR": str(retention_settings.var_dir),
           "TRACKER_DB_URL": retention_settings.tracker_url,
           "CONVERSATION_RETENTION_DAYS": "30"}
    result = CliRunner().invoke(main, ["purge"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Erased content older than 2026-10-25 10:00 UTC (30 days)" in result.output
    assert "messages: 3" in result.output
    assert texts_of(app, arranged["old"])[0] == ("", True)
    bad = CliRunner().invoke(main, ["purge"], env={**env, "CONVERSATION_RETENTION_DAYS": "0"})
    assert bad.exit_code != 0 and "CONVERSATION_RETENTION_DAYS" in bad.output


def test_the_sms_worker_purges_at_start_and_once_a_day(app, retention_settings, clock,
                                                       arranged):
    portal = app.extensions["portal"]
    portal.settings = retention_settings
    daily = retention.DailyPurge()

    def runs() -> int:
        with portal.sessions() as db:
            return len(db.execute(select(AuditEvent.id).where(
                AuditEvent.action == "retention.purge")).all())

    sms_worker(portal, threading.Event(), once=True, daily=daily)
    assert runs() == 1 and texts_of(app, arranged["old"])[0] == ("", True)
    clock.advance(hours=23)
    sms_worker(portal, threading.Event(), once=True, daily=daily)
    assert runs() == 1
    clock.advance(hours=1)
    sms_worker(portal, threading.Event(), once=True, daily=daily)
    assert runs() == 2


def test_settings_read_the_period_and_find_rasas_tracker_database(tmp_path):
    from portal.config import ConfigError, Settings

    base = {"ASSISTANT_ENV": "test", "ASSISTANT_VAR_DIR": str(tmp_path)}
    assert Settings.from_env(base).conversation_retention_days == 30
    assert Settings.from_env({**base, "CONVERSATION_RETENTION_DAYS": "90"}
                             ).conversation_retention_days == 90
    for bad in ("0", "-1", "30d", " "):
        with pytest.raises(ConfigError, match="CONVERSATION_RETENTION_DAYS"):
            Settings.from_env({**base, "CONVERSATION_RETENTION_DAYS": bad})
    assert Settings.from_env(base).tracker_url == \
        f"sqlite:///{tmp_path / 'conversations.sqlite3'}"
    pg = "postgresql://u:p@db:5432/assistant"
    assert Settings.from_env({**base, "DATABASE_URL": pg, "REDIS_URL": "redis://r"}
                             ).tracker_url == pg  # Rasa's production endpoints
    assert Settings.from_env({**base, "DATABASE_URL": pg}).tracker_url.startswith("sqlite")
    assert Settings.from_env({**base, "TRACKER_DB_URL": "sqlite:///x"}).tracker_url == \
        "sqlite:///x"
