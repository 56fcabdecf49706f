"""A citizen deletes their own conversation: the real actions against the real portal over
HTTP (SLETT SAMTALEN MIN, then JA erases everywhere and logs out, NEI keeps everything), the
erase endpoint's refusals, and our tracker store dropping the erased conversation."""
from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from channels.tracker_store import ERASED_SLOT
from portal.conversations import service
from portal.conversations.sms_inbox import queue_reply
from portal.models import AuditEvent, Channel, CitizenSession, Conversation, OutboundSms
from tests.bot_harness import BotConversation
from tests.conftest import KARI, SERVICE_TOKEN
from tests.retention_helpers import (found_in_database, found_in_logs, save_turns,
                                     tracker_store, tracker_url)  # noqa: F401

SECRET = "naboen min Ørjan bygger ulovlig garasje"
ERASE = "/api/v1/conversations/erase"


def web_conversation(app, clock, key: str, *texts: str) -> int:
    with app.extensions["portal"].sessions() as db:
        conversation = service.open_conversation(db, Channel.WEBCHAT, key, clock.now())
        for said in texts:
            message = service.record_citizen_message(db, conversation, said, clock.now())
            service.record_bot_replies(db, conversation, message.message.id,
                                       [{"text": f"Du skrev: {said}"}], clock.now())
        db.commit()
        return conversation.id


def rasa_log(settings, *texts: str):
    """Log lines as Rasa's debug log writes them (text and JSON lines)."""
    logs = settings.var_dir / "logs"
    logs.mkdir(exist_ok=True)
    lines = ["2026-11-24 rasa.core.processor - Starting the assistant"]
    for said in texts:
        lines.append(f"2026-11-24 DEBUG rasa.core.processor - Received user message '{said}'")
        lines.append(json.dumps({"event": f"Received user message '{said}' with intent"}))
    (logs / "rasa.log").write_text("\n".join(lines) + "\n")
    return logs


@pytest.fixture
def kari_on_the_web(app, clock, login, actions_portal, settings):
    headers = login(KARI, Channel.WEBCHAT, "kari-chat")
    key = headers["X-Conversation-Id"]
    web_conversation(app, clock, key, SECRET, "logg inn")
    logs = rasa_log(settings, SECRET)
    bot = BotConversation("kari-chat", channel="webchat")
    bot.slots.update(logged_in=True, first_name="Kari")
    return bot, headers, logs


def test_slett_samtalen_min_then_ja_erases_it_everywhere_and_logs_out(
        app, client, settings, kari_on_the_web):
    bot, headers, logs = kari_on_the_web
    asked = bot.texts(bot.say("slett samtalen min", "delete_conversation"))
    assert "Vil du slette denne samtalen?" in asked and bot.slots["pending_deletion"] is True
    assert found_in_database(settings.database_url, SECRET)  # nothing happened yet

    done = bot.texts(bot.say("ja", "affirm"))
    assert done == ("Samtalen din er slettet, og du er logget ut. Skriv når som helst for å "
                    "starte en ny samtale.")
    assert bot.slots["logged_in"] is None and bot.slots[ERASED_SLOT]
    assert bot.slots["pending_deletion"] is False
    assert found_in_database(settings.database_url, SECRET) == []
    assert found_in_database(settings.database_url, "Ørjan") == []
    assert found_in_logs(logs, SECRET) == [] and found_in_logs(logs, "Ørjan") == []
    assert "Starting the assistant" in (logs / "rasa.log").read_text()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    with app.extensions["portal"].sessions() as db:
        erased = db.execute(select(AuditEvent).where(
            AuditEvent.action == "conversation.erase")).scalar_one()
        session = db.execute(select(CitizenSession)).scalar_one()
        conversation = db.execute(select(Conversation)).scalar_one()
    assert erased.actor_id.startswith("citizen:") and erased.detail["messages"] == 4
    assert session.ended_reason == "erased" and conversation.erased_at is not None
    assert bot.texts(bot.say("ja", "affirm")).startswith("Det er ingenting å svare ja")


def test_nei_keeps_everything(app, client, settings, kari_on_the_web):
    bot, headers, logs = kari_on_the_web
    bot.say("slett samtalen min", "delete_conversation")
    assert bot.texts(bot.say("nei", "deny")) == "Greit, samtalen blir ikke slettet."
    assert found_in_database(settings.database_url, SECRET) and found_in_logs(logs, SECRET)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert bot.slots["logged_in"] is True and not bot.slots[ERASED_SLOT]


def test_each_language_is_answered_in_its_own_words_and_the_question_lasts_one_turn(
        app, clock, settings, actions_portal):
    web_conversation(app, clock, "web-anon", SECRET)
    nynorsk = BotConversation("anon", channel="webchat")
    assert "Alt du og assistenten har skrive blir sletta" in nynorsk.texts(
        nynorsk.say("slett samtala mi", "delete_conversation"))
    assert nynorsk.texts(nynorsk.say("nei", "deny")) == "Greitt, samtalen blir ikkje sletta."
    english = BotConversation("anon", channel="webchat")
    assert "Do you want to delete this conversation?" in english.texts(
        english.say("delete my conversation", "delete_conversation"))
    english.say("what is this", "nlu_fallback")
    assert english.slots["pending_deletion"] is False
    english.say("delete my conversation", "delete_conversation")
    assert "log in" in english.texts(english.say("invoices", "check_invoices"))
    assert english.slots["pending_deletion"] is False
    assert english.texts(english.say("yes", "affirm")).startswith("There is nothing to answer")
    assert found_in_database(settings.database_url, SECRET)
    english.say("delete my chat", "delete_conversation")
    assert english.texts(english.say("yes", "affirm")).startswith(
        "Your conversation has been deleted")
    assert found_in_database(settings.database_url, SECRET) == []


def test_a_held_conversation_is_not_deleted(app, settings, clock, kari_on_the_web):
    bot, headers, logs = kari_on_the_web
    with app.extensions["portal"].sessions() as db:
        conversation = db.execute(select(Conversation)).scalar_one()
        conversation.held_at, conversation.held_by, conversation.hold_reason = (
            clock.now(), 1, "klagesak")
        db.commit()
    bot.say("slett samtalen min", "delete_conversation")
    refused = bot.texts(bot.say("ja", "affirm"))
    assert refused.startswith("Samtalen kan ikke slettes akkurat nå")
    assert found_in_database(settings.database_url, SECRET) and found_in_logs(logs, SECRET)
    assert bot.slots["logged_in"] is True


def test_the_erase_endpoint_refuses_bad_requests_and_changes_nothing(app, client, clock,
                                                                    settings):
    web_conversation(app, clock, "web-abc", SECRET)
    service_token = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    for headers, status, code in (
            ({}, 401, "invalid_token"),
            ({"Authorization": "Bearer wrong", "X-Channel": "webchat",
              "X-Conversation-Id": "web-abc"}, 401, "invalid_token"),
            (service_token, 422, "invalid_conversation"),
            ({**service_token, "X-Channel": "webchat"}, 422, "invalid_conversation"),
            ({**service_token, "X-Channel": "sms", "X-Conversation-Id": "web-abc"}, 422,
             "invalid_conversation"),
            ({**service_token, "X-Channel": "fax", "X-Conversation-Id": "web-abc"}, 422,
             "invalid_conversation"),
            ({**service_token, "X-Channel": "webchat", "X-Conversation-Id": "web-"}, 422,
             "invalid_conversation"),
            ({**service_token, "X-Channel": "webchat", "X-Conversation-Id": "web-" + "a" * 200},
             422, "invalid_conversation")):
        response = client.post(ERASE, headers=headers)
        assert response.status_code == status, (headers, response.get_json())
        assert response.get_json()["error"]["code"] == code
    assert client.get(ERASE, headers=service_token).status_code == 405
    assert found_in_database(settings.database_url, SECRET)
    with app.extensions["portal"].sessions() as db:
        assert db.execute(select(AuditEvent).where(
            AuditEvent.action == "conversation.erase")).first() is None
    unknown = client.post(ERASE, headers={**service_token, "X-Channel": "webchat",
                                          "X-Conversation-Id": "web-never-seen"})
    assert unknown.status_code == 200 and unknown.get_json()["messages"] == 0
    assert found_in_database(settings.database_url, SECRET)


def test_an_sms_conversation_loses_its_inbound_and_outbox_bodies(app, client, clock,
                                                                 settings):
    with app.extensions["portal"].sessions() as db:
        mine = service.record_inbound(db, settings, message_sid="SM1", phone="+4791234567",
                                      body=SECRET, num_media=0, now=clock.now())
        other = service.record_inbound(db, settings, message_sid="SM2", phone="+4798765432",
                                       body="en annen innbygger", num_media=0,
                                       now=clock.now())
        for key, text in ((mine.sender_key, f"Svar til {SECRET}"),
                          (other.sender_key, "svar til den andre")):
            queue_reply(db, settings, key, text, now=clock.now(), commit=False)
        db.execute(OutboundSms.__table__.update().values(status="delivered"))
        db.commit()
        key = mine.sender_key
    response = client.post(ERASE, headers={"Authorization": f"Bearer {SERVICE_TOKEN}",
                                           "X-Channel": "sms", "X-Conversation-Id": key})
    assert response.status_code == 200 and response.get_json()["messages"] == 1
    assert found_in_database(settings.database_url, SECRET) == []
    assert found_in_database(settings.database_url, "en annen innbygger")
    assert found_in_database(settings.database_url, "svar til den andre")


def test_the_tracker_store_drops_an_erased_conversation_and_goes_on(tracker_url):
    from rasa.shared.core.events import SlotSet, UserUttered

    store = tracker_store(tracker_url)
    try:
        asyncio.run(save_turns(store, "web-x", [SECRET, "slett samtalen min"], 1.7e9))
        asyncio.run(save_turns(store, "web-y", ["en annen samtale"], 1.7e9))
        tracker = asyncio.run(store.retrieve("web-x"))
        tracker.update(UserUttered("ja", {"name": "affirm", "confidence": 1.0}))
        tracker.update(SlotSet(ERASED_SLOT, "2026-11-24T10:00:00+00:00"))
        asyncio.run(store.save(tracker))
        assert asyncio.run(store.retrieve("web-x")) is None
        assert found_in_database(tracker_url, SECRET) == []
        assert found_in_database(tracker_url, "en annen samtale")
        asyncio.run(save_turns(store, "web-x", ["en ny samtale"], 1.8e9))
        said = [e.text for e in asyncio.run(store.retrieve("web-x")).events
                if getattr(e, "text", None)]
        assert said == ["en ny samtale", "svar på en ny samtale"]
    finally:
        store.engine.dispose()
