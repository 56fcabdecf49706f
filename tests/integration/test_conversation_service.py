"""The conversation service on SQLite and PostgreSQL: recording, redaction, owners, hand-over."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.conversations import service
from portal.errors import Conflict, Forbidden, InvalidInput
from portal.models import AuditEvent, Channel, OutboundSms, TranscriptMessage
from portal.sms.sender_keys import ensure_identity
from tests.conftest import KARI, T0

MOBILE = "+4791234567"


@pytest.fixture
def portal(app):
    return app.extensions["portal"]


def sms_conversation(db, portal):
    identity = ensure_identity(db, portal.settings.identity_key, MOBILE, T0)
    conv = service.open_conversation(db, Channel.SMS, identity.sender_key, T0, language="nb")
    db.commit()
    return conv


def web_conversation(db):
    conv = service.open_conversation(db, Channel.WEBCHAT, "web-abcdefghijklmnop", T0)
    db.commit()
    return conv


def test_open_is_idempotent_and_keys_must_match_the_channel(db):
    first = web_conversation(db)
    assert service.open_conversation(db, Channel.WEBCHAT, first.sender_key, T0).id == first.id
    with pytest.raises(InvalidInput):
        service.open_conversation(db, Channel.SMS, "web-not-an-sms-key", T0)
    with pytest.raises(InvalidInput):
        service.open_conversation(db, Channel.WEBCHAT, "sms-xyz", T0)


def test_a_citizen_message_is_redacted_before_storage_and_recorded_once(db):
    conv = web_conversation(db)
    text = f"mitt fnr er {KARI}, ring 912 34 567, koden 123456, personlig kode 2580"
    first = service.record_citizen_message(db, conv, text, T0, external_id="m-1")
    db.commit()
    again = service.record_citizen_message(db, conv, text, T0 + timedelta(seconds=5),
                                           external_id="m-1")
    db.commit()
    assert first.new and not again.new and again.message.id == first.message.id
    assert first.route == service.BOT
    stored = db.execute(select(TranscriptMessage.text)).scalars().all()
    assert stored == ["mitt fnr er [fødselsnummer], ring [telefon], koden [kode], "
                      "personlig kode [kode]"]
    assert KARI not in stored[0] and "123456" not in stored[0] and "2580" not in stored[0]


def test_prediction_keeps_entity_names_only(db):
    conv = web_conversation(db)
    recorded = service.record_citizen_message(db, conv, f"logg inn {KARI}", T0,
                                              external_id="m-2")
    service.record_prediction(db, recorded.message.id, "login", 0.93456, ["fnr", "fnr"])
    db.commit()
    db.refresh(recorded.message)
    message = recorded.message
    assert (message.intent, message.confidence, message.entities) == ("login", 0.9346, ["fnr"])
    with pytest.raises(InvalidInput):
        service.record_prediction(db, 999999, "x", 1.0, [])


def test_bot_replies_are_recorded_exactly_once(db):
    conv = web_conversation(db)
    asked = service.record_citizen_message(db, conv, "brev", T0, external_id="m-3").message
    replies = [{"text": "Du har 2 nye brev. Ring 91234567.", "action": "action_list_letters"},
               {"text": "Velg", "buttons": [{"title": "Les 1", "payload": "/read"}],
                "action": "utter_choose"}]
    sent = service.record_bot_replies(db, conv, asked.id, replies, T0)
    db.commit()
    retried = service.record_bot_replies(db, conv, asked.id, replies, T0)
    db.commit()
    assert [m.id for m in retried] == [m.id for m in sent] and len(sent) == 2
    out = service.replies_to(db, asked.id)
    assert [m.action for m in out] == ["action_list_letters", "utter_choose"]
    assert out[0].text == "Du har 2 nye brev. Ring [telefon]." and "[Les 1]" in out[1].text


def test_take_over_answer_and_hand_back_over_sms(db, portal):
    conv = sms_conversation(db, portal)
    joined = service.take_over(db, portal.settings, conv, 7, "Ingrid", T0)
    db.commit()
    assert (conv.owner_staff_id, conv.owner_name) == (7, "Ingrid")
    assert joined.text == "Du snakker nå med Ingrid i Bergen kommune."
    asked = service.record_citizen_message(db, conv, "hei?", T0, external_id="m-4")
    assert asked.route == service.PERSON
    answer = service.answer_as_person(db, portal.settings, conv, 7, "Hei! Jeg ser på saken.",
                                      T0 + timedelta(minutes=1))
    db.commit()
    assert (answer.author, answer.staff_id, answer.staff_name) == ("caseworker", 7, "Ingrid")
    sms = db.get(OutboundSms, answer.outbound_sms_id)
    assert sms.to_number == MOBILE and sms.body == "Hei! Jeg ser på saken."
    assert answer.status == sms.status

    with pytest.raises(Forbidden):
        service.answer_as_person(db, portal.settings, conv, 8, "Jeg også", T0)
    with pytest.raises(Conflict):
        service.take_over(db, portal.settings, conv, 8, "Per", T0)
    db.rollback()
    left = service.hand_back(db, portal.settings, conv, 7, T0 + timedelta(minutes=2))
    db.commit()
    assert conv.owner_staff_id is None and service.route_of(conv) == service.BOT
    assert left.text == "Du snakker nå med assistenten igjen."
    bodies = db.execute(select(OutboundSms.body).order_by(OutboundSms.id)).scalars().all()
    assert bodies == ["Du snakker nå med Ingrid i Bergen kommune.",
                      "Hei! Jeg ser på saken.", "Du snakker nå med assistenten igjen."]
    actions = db.execute(select(AuditEvent.action).where(
        AuditEvent.object_type == "conversation").order_by(AuditEvent.id)).scalars().all()
    assert actions == ["conversation.take_over", "conversation.answer",
                       "conversation.hand_back"]


def test_a_reply_computed_while_a_person_took_over_is_dropped(db, portal):
    conv = web_conversation(db)
    asked = service.record_citizen_message(db, conv, "faktura", T0, external_id="m-5")
    db.commit()
    assert asked.route == service.BOT
    service.take_over(db, portal.settings, conv, 3, "Ola", T0)  # while the bot thinks
    db.commit()
    sent = service.record_bot_replies(db, conv, asked.message.id,
                                      [{"text": "Du har 1 faktura.", "action": "a"}], T0)
    db.commit()
    assert sent == []
    [dropped] = service.replies_to(db, asked.message.id)
    assert (dropped.status, dropped.text) == ("dropped", "Du har 1 faktura.")
    assert service.record_bot_replies(db, conv, asked.message.id,
                                      [{"text": "Du har 1 faktura."}], T0) == []


def test_web_person_messages_wait_for_the_browser(db, portal):
    conv = web_conversation(db)
    service.take_over(db, portal.settings, conv, 3, "Ola", T0)
    service.answer_as_person(db, portal.settings, conv, 3, "Hei fra Ola", T0)
    db.commit()
    pending = service.undelivered_live(db, [conv.sender_key, "web-other"])
    assert [(m.author, m.text) for m in pending] == [
        ("system", "Du snakker nå med Ola i Bergen kommune."), ("caseworker", "Hei fra Ola")]
    assert db.execute(select(OutboundSms)).first() is None  # web chat: nothing by SMS
    assert service.undelivered_live(db, ["web-other"]) == []


def test_a_login_links_the_conversation_to_the_citizen(db, demo, portal):
    from portal.models import Citizen
    from portal.services.sessions import start_session

    conv = web_conversation(db)
    kari = db.query(Citizen).filter_by(fnr=KARI).one()
    start_session(db, kari, channel=Channel.WEBCHAT, conversation_id=conv.sender_key, now=T0,
                  idle_minutes=30)
    db.commit()
    db.refresh(conv)
    assert conv.citizen_id == kari.id
