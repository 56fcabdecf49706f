"""The conversation gateway end to end: signed SMS into the portal, turn worker processes, two
real Rasa servers on PostgreSQL and Redis. Order, no duplicates, crashes, Rasa down, takeover."""
import time
import uuid

import pytest
import requests
from sqlalchemy import create_engine, text

from portal.bootstrap import Portal
from portal.clock import Clock
from portal.conversations import service
from portal.conversations.worker import RasaPool
from portal.models import Channel
from portal.sms.sender_keys import sender_key
from tests.gateway_fixtures import RasaSwitch, cluster_pg_url, cluster_stack  # noqa: F401
from tests.gateway_fixtures import start_turn_worker  # noqa: F401

pytestmark = pytest.mark.slow


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def rows(url, query, **params):
    engine = create_engine(url, future=True)
    with engine.connect() as conn:
        result = conn.execute(text(query), params).all()
    engine.dispose()
    return result


def key_of(url, phone):
    return rows(url, "SELECT sender_key FROM sms_identities WHERE phone = :p", p=phone)[0][0]


def wait_until(check, timeout=240, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached within {timeout} s")


def unhandled(url, phone=None):
    """Messages logged but not handled yet: all of them, or one phone's."""
    if phone is None:
        return rows(url, "SELECT count(*) FROM inbound_sms WHERE status = 'received'")[0][0]
    return rows(url, "SELECT count(*) FROM inbound_sms i JOIN sms_identities s ON "
                     "s.sender_key = i.sender_key WHERE i.status = 'received' AND "
                     "s.phone = :p", p=phone)[0][0]


def phones_on_every_server(stack, count):
    """`count` phone numbers whose conversation keys spread over every Rasa server: the
    keys are keyed hashes with this run's secret, so a fixed list could land on one."""
    pool, identity_key = RasaPool(stack.rasa_urls, ""), stack.runtime.settings.identity_key
    by_server = {url: [] for url in stack.rasa_urls}
    for i in range(1000):
        phone = f"+479100{i:04d}"
        by_server[pool.order(sender_key(identity_key, phone))[0]].append(phone)
    spread = [phone for group in zip(*by_server.values()) for phone in group]
    assert len(spread) >= count, "the pool does not spread keys over its servers"
    return spread[:count]


def outbox(url, phone):
    return [r[0] for r in rows(url, "SELECT body FROM outbound_sms WHERE to_number = :p "
                                    "ORDER BY id", p=phone)]


def rasa_user_texts(stack, key):
    tracker = requests.get(f"{stack.rasa_urls[1]}/conversations/{key}/tracker",
                           params={"token": stack.runtime.rasa_auth_token}, timeout=30).json()
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


def send(stack, phone, body):
    answer = stack.post_sms(phone, body, sid())
    assert answer.status_code == 200, answer.text


def test_two_rasa_servers_and_two_workers_keep_every_conversation_in_order(
        cluster_stack, cluster_pg_url, start_turn_worker):
    stack, url = cluster_stack, cluster_pg_url
    phones = phones_on_every_server(stack, 6)
    script = ["hei", "hjelp", "brev", "takk", "faktura"]
    for body in script:  # interleaved, as citizens text at the same time
        for phone in phones:
            send(stack, phone, body)
    # No worker runs yet: everything is acked and logged, nothing handled or lost.
    assert sum(unhandled(url, phone) for phone in phones) == len(phones) * len(script)
    keys = [key_of(url, phone) for phone in phones]
    pool = RasaPool(stack.rasa_urls, "")
    assert {pool.order(key)[0] for key in keys} == set(stack.rasa_urls)  # both servers work

    workers = [start_turn_worker(), start_turn_worker()]
    wait_until(lambda: unhandled(url) == 0, what="all SMS handled")
    turns = 0
    for worker in workers:
        assert worker.stop() == 0
        turns += int(worker.log.rsplit("stopped after ", 1)[1].split(" ")[0])
    assert turns == len(phones) * len(script)  # each message handled once, by one worker

    for phone, key in zip(phones, keys):
        inbound = rows(url, "SELECT t.id, t.text FROM inbound_sms i JOIN transcript_messages t "
                            "ON t.id = i.transcript_message_id WHERE i.sender_key = :k "
                            "ORDER BY i.id", k=key)
        assert [r.text for r in inbound] == script
        replies = rows(url, "SELECT in_reply_to, min(id) FROM transcript_messages WHERE "
                            "direction = 'out' AND conversation_id = (SELECT id FROM "
                            "conversations WHERE sender_key = :k) GROUP BY in_reply_to "
                            "ORDER BY min(id)", k=key)
        assert [r.in_reply_to for r in replies] == [r.id for r in inbound]  # in order, once
        assert len(outbox(url, phone)) == len(script)  # one SMS per message
        bot = rows(url, "SELECT t.text, t.action, t.status FROM transcript_messages t JOIN "
                        "conversations c ON c.id = t.conversation_id WHERE c.sender_key = :k "
                        "AND t.author = 'bot'", k=key)
        assert bot and [r for r in bot if not r.action] == []
        # Rasa saw the turns in order, each once; HJELP is answered before NLU.
        assert rasa_user_texts(stack, key) == [b for b in script if b != "hjelp"]


def test_a_worker_killed_mid_turn_is_taken_over_and_the_citizen_gets_one_reply(
        cluster_stack, cluster_pg_url, start_turn_worker):
    stack, url, phone = cluster_stack, cluster_pg_url, "+4791110001"
    with RasaSwitch(stack.rasa_urls[0]) as switch:
        switch.mode = "hold"  # Rasa runs the turn; its answer never reaches worker A
        first = start_turn_worker("--lease-seconds", "8", "--request-timeout", "6",
                                  rasa_urls=[switch.url])
        send(stack, phone, "hei")
        assert switch.held.wait(120), "the turn never reached Rasa"
        first.kill()
        assert outbox(url, phone) == [] and unhandled(url, phone) == 1
        second = start_turn_worker("--lease-seconds", "8", "--request-timeout", "6")
        wait_until(lambda: unhandled(url, phone) == 0,
                   what="the SMS handled by the second worker")
        time.sleep(2)  # a (wrong) second reply gets every chance to show up
        assert len(outbox(url, phone)) == 1
        assert rasa_user_texts(stack, key_of(url, phone)) == ["hei"]  # the turn ran once
        second.stop()


def test_rasa_down_delays_turns_and_loses_none(cluster_stack, cluster_pg_url,
                                               start_turn_worker):
    stack, url, phone = cluster_stack, cluster_pg_url, "+4791110002"
    with RasaSwitch(stack.rasa_urls[0]) as switch:
        switch.mode = "down"
        worker = start_turn_worker("--max-backoff", "0.5", rasa_urls=[switch.url])
        send(stack, phone, "hei")
        send(stack, phone, "takk")
        wait_until(lambda: rows(url, "SELECT max(attempts) FROM inbound_sms WHERE sender_key"
                                     " = :k", k=key_of(url, phone))[0][0] >= 3,
                   what="retries with back-off")
        assert outbox(url, phone) == []
        switch.mode = "forward"  # Rasa is back
        wait_until(lambda: unhandled(url) == 0, what="the SMS handled once Rasa is back")
        assert len(outbox(url, phone)) == 2
        assert rasa_user_texts(stack, key_of(url, phone)) == ["hei", "takk"]
        worker.stop()


def test_a_down_server_is_skipped_for_the_next_one(cluster_stack, cluster_pg_url,
                                                   start_turn_worker):
    stack, url, phone = cluster_stack, cluster_pg_url, "+4791110003"
    with RasaSwitch(stack.rasa_urls[0]) as switch:
        switch.mode = "down"
        worker = start_turn_worker(rasa_urls=[switch.url, stack.rasa_urls[1]])
        send(stack, phone, "hei")
        wait_until(lambda: unhandled(url) == 0, what="the SMS handled by the other server")
        assert rows(url, "SELECT attempts FROM inbound_sms WHERE sender_key = :k",
                    k=key_of(url, phone))[0][0] == 0
        assert len(outbox(url, phone)) == 1
        worker.stop()


def test_a_person_takes_over_the_bot_stays_silent_and_hands_back(
        cluster_stack, cluster_pg_url, start_turn_worker):
    stack, url, phone = cluster_stack, cluster_pg_url, "+4791110004"
    worker = start_turn_worker()
    send(stack, phone, "hei")
    wait_until(lambda: len(outbox(url, phone)) == 1, what="the bot's greeting")
    portal = Portal(stack.runtime.settings, Clock())
    with portal.sessions() as db:
        conv = service.find_conversation(db, Channel.SMS, key_of(url, phone))
        service.take_over(db, portal.settings, conv, 42, "Ingrid", portal.clock.now())
        db.commit()
    send(stack, phone, "jeg trenger hjelp med en faktura")
    wait_until(lambda: unhandled(url) == 0, what="the message recorded")
    time.sleep(1.5)
    assert outbox(url, phone)[1:] == ["Du snakker nå med Ingrid i Bergen kommune."]
    key = key_of(url, phone)
    assert rasa_user_texts(stack, key) == ["hei"]  # no NLU, no turn while a person answers
    with portal.sessions() as db:
        conv = service.find_conversation(db, Channel.SMS, key)
        service.answer_as_person(db, portal.settings, conv, 42, "Hei, dette ordner jeg.",
                                 portal.clock.now())
        service.hand_back(db, portal.settings, conv, 42, portal.clock.now())
        db.commit()
        authors = [(m.author, m.text) for m in service.transcript(db, conv)]
    portal.close()
    assert authors[2:] == [
        ("system", "Du snakker nå med Ingrid i Bergen kommune."),
        ("citizen", "jeg trenger hjelp med en faktura"),
        ("caseworker", "Hei, dette ordner jeg."),
        ("system", "Du snakker nå med assistenten igjen.")]
    assert outbox(url, phone)[2:] == ["Hei, dette ordner jeg.",
                                      "Du snakker nå med assistenten igjen."]
    send(stack, phone, "takk")
    wait_until(lambda: len(outbox(url, phone)) == 5, what="the bot answering again")
    assert rasa_user_texts(stack, key) == ["hei", "takk"]
    worker.stop()
