"""An inbound SMS logged while a turn worker commits a turn of the same conversation: both
take the conversation row before the identity row, so neither deadlocks (found by
bench/sms_bench.py: 3 of 500 webhooks got a 500 from a PostgreSQL deadlock). Row locks are
PostgreSQL's, so this runs there only."""
import threading
import time

from datetime import timedelta

from sqlalchemy import text, update

from portal.bootstrap import Portal
from portal.config import Settings
from portal.conversations import service
from portal.models import Conversation
from portal.conversations import sms_inbox as sms
from tests.conftest import _truncate_all

PHONE = "+4791234567"


def _waiting_for_lock(portal: Portal, pid: int) -> bool:
    with portal.engine.connect() as conn:
        return conn.execute(text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                 "WHERE pid = :pid"), {"pid": pid}).scalar() or False


def test_a_webhook_during_a_turn_commit_waits_instead_of_deadlocking(pg_schema_url, tmp_path,
                                                                     clock):
    _truncate_all(pg_schema_url)
    settings = Settings(environment="test", database_url=pg_schema_url, var_dir=tmp_path,
                        identity_key="test-identity-key", dev_outbox=True)
    portal = Portal(settings, clock)
    now = clock.now()
    with portal.sessions() as db:
        first = service.record_inbound(db, settings, message_sid="SM1", phone=PHONE, body="hei",
                                   num_media=0, now=now)
        conversation_id, key = first.conversation_id, first.sender_key

    webhook: dict = {}
    worker = portal.sessions()
    # The turn worker's commit: its lease fence locks the conversation first ...
    worker.execute(update(Conversation).where(Conversation.id == conversation_id)
                   .values(lease_until=now).execution_options(synchronize_session=False))

    def log_inbound() -> None:
        try:
            with portal.sessions() as db:
                webhook["pid"] = db.execute(text("SELECT pg_backend_pid()")).scalar()
                webhook["row"] = service.record_inbound(db, settings, message_sid="SM2",
                                                    phone=PHONE, body="brev", num_media=0,
                                                    now=now + timedelta(seconds=5))
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            webhook["error"] = exc

    thread = threading.Thread(target=log_inbound)
    thread.start()
    for _ in range(600):  # until the webhook waits for the worker's lock
        if "row" in webhook or "error" in webhook or (
                "pid" in webhook and _waiting_for_lock(portal, webhook["pid"])):
            break
        time.sleep(0.05)
    waited = "pid" in webhook and _waiting_for_lock(portal, webhook["pid"])
    # ... then it changes the SMS state (the identity row) and checks the owner, locked.
    sms.set_opted_out(worker, key, False, now, commit=False)
    assert service.owner_of(worker, conversation_id, lock=True) is None
    worker.commit()
    worker.close()
    thread.join(60)

    assert "error" not in webhook, webhook.get("error")
    assert waited  # the webhook queued behind the worker's conversation lock
    assert webhook["row"].conversation_id == conversation_id
    with portal.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inbound_sms")).scalar() == 2
    portal.engine.dispose()
