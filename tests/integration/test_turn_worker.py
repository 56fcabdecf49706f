"""The turn worker on SQLite and PostgreSQL: leases, fencing, back-off and the keywords that
are answered before NLU (no Rasa involved: the pool points at a closed port)."""
import dataclasses

import pytest
from sqlalchemy import select

from portal.bootstrap import Portal
from portal.conversations import service
from portal.conversations.worker import RasaPool, TurnPolicy, TurnWorker
from portal.models import Conversation, InboundSms, OutboundSms, SmsIdentity, TranscriptMessage

MOBILE = "+4791234567"
CLOSED = "http://127.0.0.1:1"  # nothing listens: any Rasa call fails at once


@pytest.fixture
def portal(settings, clock):
    context = Portal(dataclasses.replace(settings, gateway_token="t" * 20), clock)
    yield context
    context.close()


def worker(portal, name, **policy):
    return TurnWorker(portal, RasaPool([CLOSED], "t" * 20, timeout=1),
                      TurnPolicy(lease_seconds=30, request_timeout=5, **policy), worker_id=name)


def inbound(portal, body, sid, **extra):
    with portal.sessions() as db:
        row = service.record_inbound(db, portal.settings, message_sid=sid, phone=MOBILE,
                                       body=body, num_media=extra.get("num_media", 0),
                                       now=portal.clock.now())
        return row.id


def sent(portal):
    with portal.sessions() as db:
        return db.execute(select(OutboundSms.body).order_by(OutboundSms.id)).scalars().all()


def drain(w):
    while (conversation_id := w.claim()) is not None:
        w.work(conversation_id)


def test_keywords_are_answered_before_nlu_and_recorded(portal):
    w = worker(portal, "a")
    for i, body in enumerate(["HJELP", "stopp", "Start!", "mer", "brev"]):
        inbound(portal, body, f"SM{i}")
    drain(w)
    bodies = sent(portal)
    assert bodies[0].startswith("Bergen kommune: Svar BREV")
    assert "Send START" in bodies[1]
    assert bodies[2].startswith("Velkommen tilbake")
    assert bodies[3:] == ["Det er ikke mer å vise."]
    with portal.sessions() as db:
        rows = db.execute(select(TranscriptMessage).order_by(TranscriptMessage.id)).scalars()
        seen = [(m.author, m.action, m.status) for m in rows]
        assert db.execute(select(SmsIdentity.opted_out_at)).scalar_one() is None
        states = db.execute(select(InboundSms.status, InboundSms.body)).all()
    assert ("system", "keyword:hjelp", "dev_outbox") in seen
    assert ("system", "keyword:stopp", "dev_outbox") in seen
    assert ("system", "keyword:mer", "dev_outbox") in seen
    # "brev" needs a turn, and Rasa is unreachable: it waits, logged, for a later try.
    assert ("processed", "HJELP") in states and ("received", "brev") in states


def test_a_turn_rasa_cannot_run_backs_off_and_keeps_the_order(portal, clock):
    w = worker(portal, "a", first_backoff=2, max_backoff=10)
    first = inbound(portal, "brev", "SM1")
    inbound(portal, "HJELP", "SM2")
    drain(w)
    with portal.sessions() as db:
        rows = {r.id: r for r in db.execute(select(InboundSms)).scalars()}
        assert rows[first].attempts == 1 and rows[first].status == "received"
        assert {r.status for r in rows.values()} == {"received"}  # HJELP waits behind it
    assert sent(portal) == []
    assert w.claim() is None  # backing off
    clock.advance(seconds=2)
    drain(w)
    with portal.sessions() as db:
        assert db.get(InboundSms, first).attempts == 2


def test_one_worker_per_conversation_and_an_expired_lease_is_taken_over(portal, clock):
    a, b = worker(portal, "a"), worker(portal, "b")
    inbound(portal, "HJELP", "SM1")
    claimed = a.claim()
    assert claimed is not None and b.claim() is None
    clock.advance(seconds=31)  # a crashed: its lease ran out
    assert b.claim() == claimed
    assert a.work(claimed) == 0  # a's commit is fenced: it no longer holds the lease
    assert sent(portal) == []
    assert b.work(claimed) == 1
    assert len(sent(portal)) == 1


def test_a_person_owned_conversation_never_reaches_rasa(portal):
    w = worker(portal, "a")
    inbound(portal, "hei", "SM0")
    with portal.sessions() as db:
        conv = db.execute(select(Conversation)).scalar_one()
        service.take_over(db, portal.settings, conv, 5, "Kari", portal.clock.now())
        db.commit()
    drain(w)  # Rasa is unreachable; a turn would back off instead of being handled
    with portal.sessions() as db:
        assert db.execute(select(InboundSms.status)).scalar_one() == "processed"
    assert sent(portal) == ["Du snakker nå med Kari i Bergen kommune."]


def test_workers_in_threads_of_one_process_share_the_queue_each_message_once(portal):
    """`run_workers`: several conversations at once, each SMS handled once, in order."""
    import threading

    from portal.conversations.worker import run_workers

    phones = [f"+479100000{i}" for i in range(4)]
    with portal.sessions() as db:
        for n, phone in enumerate(phones):
            for i, body in enumerate(["HJELP", "mer"]):
                service.record_inbound(db, portal.settings, message_sid=f"SM{n}{i}", phone=phone,
                                       body=body, num_media=0, now=portal.clock.now())
    workers = [worker(portal, f"w{i}") for i in range(3)]
    stop = threading.Event()
    runner = threading.Thread(target=lambda: run_workers(workers, stop, interval=0.05))
    runner.start()
    try:
        for _ in range(200):
            with portal.sessions() as db:
                if set(db.execute(select(InboundSms.status)).scalars()) == {"processed"}:
                    break
            stop.wait(0.1)
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()
    with portal.sessions() as db:
        rows = db.execute(select(OutboundSms.to_number, OutboundSms.body)
                          .order_by(OutboundSms.id)).all()
    for phone in phones:
        bodies = [body for to, body in rows if to == phone]
        assert len(bodies) == 2 and bodies[0].startswith("Bergen kommune: Svar BREV")
        assert bodies[1] == "Det er ikke mer å vise."
