"""The custom actions against the real portal over HTTP: login, letters, offers, invoices."""
import re

from sqlalchemy import func, select

from portal.config import Settings
from portal.models import Channel, KindergartenOffer, Letter, OfferStatus, OutboundSms
from portal.sms.outbox import open_body
from tests.bot_harness import BotConversation
from tests.conftest import KARI, PERSONAL_CODES, UNKNOWN

EMMA = KindergartenOffer.child_name == "Emma Nordmann"


def fresh(db, statement):
    """Reads committed state and ends the transaction (SQLite serialises transactions)."""
    db.expire_all()
    try:
        return db.execute(statement).scalars().first()
    finally:
        db.rollback()


def fresh_row(db, statement):
    try:
        return tuple(db.execute(statement).first())
    finally:
        db.rollback()


def latest_code(db, mobile):
    body = fresh(db, select(OutboundSms.body).where(OutboundSms.to_number == mobile)
                 .order_by(OutboundSms.id.desc()))
    # Codes are sealed in the outbox; the test portal's settings use the default key.
    return re.search(r"\b(\d{6})\b", open_body(Settings().outbox_key, body)).group(1)


def logged_in(db, actions_portal, fnr=KARI, mobile="+4791234567", resume=None):
    bot = BotConversation("conv-kari")
    if resume:
        bot.say(*resume)
    else:
        bot.say("logg inn", "login")
    bot.say(fnr, "inform", {"fnr": fnr})
    bot.say(PERSONAL_CODES[fnr], "inform")
    bot.say(latest_code(db, mobile), "inform", {"otp_code": latest_code(db, mobile)})
    return bot


def test_login_then_letters_then_read(db, demo, actions_portal):
    bot = BotConversation("conv-1")
    assert "fødselsnummer" in bot.texts(bot.say("logg inn", "login"))
    reply = bot.texts(bot.say("148385 42035", "inform", {"fnr": "148385 42035"}))
    assert "personlige koden" in reply and bot.slots["login_step"] == "personal_code"
    reply = bot.texts(bot.say("2580", "inform"))
    assert "Hvis fødselsnummeret og den personlige koden stemmer" in reply
    assert bot.slots["login_step"] == "otp_code"
    code = latest_code(db, "+4791234567")
    reply = bot.texts(bot.say(code, "inform", {"otp_code": code}))
    assert "Hei, Kari!" in reply
    assert "Solstrålen barnehage" in reply  # the open offer is mentioned after login
    assert bot.slots["logged_in"] is True and "session_token" not in bot.slots

    reply = bot.texts(bot.say("brev", "check_messages"))
    assert "1. Feievarsel for Fjellveien 12" in reply
    assert "Svar LES 1" in reply

    reply = bot.texts(bot.say("les 1", "read_message", {"message_number": "1"}))
    assert "feie pipen din i uke 7" in reply
    read_at, read_via = fresh_row(db, select(Letter.read_at, Letter.read_via)
                                  .where(Letter.title == "Feievarsel for Fjellveien 12"))
    assert read_at is not None and read_via == Channel.REST


def test_a_journey_before_login_resumes_after_it(db, demo, actions_portal):
    bot = logged_in(db, actions_portal, resume=("faktura?", "check_invoices"))
    replies = [m["text"] for m in bot.say("faktura?", "check_invoices")]
    text = "\n".join(replies)
    assert "3 315,00 kr" in text and "4 980,50 kr" in text
    assert "202701148385000113" in text and "1503.12.34562" in text


def test_accept_offer_needs_confirmation(db, demo, actions_portal):
    bot = logged_in(db, actions_portal)
    reply = bot.texts(bot.say("ja takk til barnehageplassen", "accept_offer"))
    assert "Emma" in reply and "Solstrålen barnehage" in reply and "1. august 2027" in reply
    state = select(KindergartenOffer.status, KindergartenOffer.answered_via).where(EMMA)
    assert fresh_row(db, state) == (OfferStatus.OFFERED, None)  # nothing sent before the JA
    bot.texts(bot.say("JA", "affirm"))
    assert fresh_row(db, state) == (OfferStatus.ACCEPTED, Channel.REST)
    again = bot.texts(bot.say("takk ja", "accept_offer"))
    assert "takket ja" in again


def test_deny_cancels_a_pending_answer(db, demo, actions_portal):
    bot = logged_in(db, actions_portal)
    bot.say("nei takk til plassen", "decline_offer")
    bot.say("nei", "deny")
    assert bot.slots["pending_offer_answer"] is None
    assert fresh(db, select(KindergartenOffer.status).where(EMMA)) == OfferStatus.OFFERED


def test_unknown_number_gets_the_same_reply_and_no_sms(db, demo, actions_portal):
    known = BotConversation("conv-known")
    unknown = BotConversation("conv-unknown")
    known.say("logg inn", "login")
    unknown.say("logg inn", "login")
    count = select(func.count()).select_from(OutboundSms)
    sms_before = fresh(db, count)
    reply_known = known.texts(known.say(KARI, "inform", {"fnr": KARI}))
    reply_unknown = unknown.texts(unknown.say(UNKNOWN, "inform", {"fnr": UNKNOWN}))
    assert reply_known == reply_unknown
    reply_known = known.texts(known.say("2580", "inform"))
    reply_unknown = unknown.texts(unknown.say("2580", "inform"))
    assert reply_known == reply_unknown
    assert fresh(db, count) == sms_before + 1
    # A guessed code for the unknown number is "wrong", exactly as for a known one.
    wrong_unknown = unknown.texts(unknown.say("123456", "inform", {"otp_code": "123456"}))
    wrong_known = known.texts(known.say("000000", "inform", {"otp_code": "000000"}))
    assert wrong_unknown == wrong_known


def test_logout_ends_the_session(db, demo, actions_portal):
    bot = logged_in(db, actions_portal)
    bot.say("logg ut", "logout")
    assert bot.slots["logged_in"] is None
    assert "fødselsnummer" in bot.texts(bot.say("brev", "check_messages"))


def test_portal_down_gives_a_clear_reply(demo, actions_portal, monkeypatch):
    monkeypatch.setattr(actions_portal, "base_url", "http://127.0.0.1:9")
    bot = BotConversation("conv-down")
    bot.say("logg inn", "login")
    reply = bot.texts(bot.say(KARI, "inform", {"fnr": KARI}))
    assert "prøv igjen" in reply.lower()


def test_no_slot_or_event_of_a_login_holds_a_session_secret(db, demo, actions_portal):
    from portal.models import CitizenSession

    bot = logged_in(db, actions_portal)
    assert fresh_row(db, select(CitizenSession.channel, CitizenSession.conversation_id)) == (
        Channel.REST, "rest-conv-kari")
    # Nothing the actions keep in the tracker is a bearer secret: booleans, a name, a language.
    assert {k: v for k, v in bot.slots.items() if v not in (None, False, 0, 0.0)} == {
        "logged_in": True, "first_name": "Kari", "language": "nb"}
    assert "brev" in bot.texts(bot.say("brev", "check_messages")).lower()


def test_the_channel_comes_from_the_conversation_id_not_the_input_channel(
        db, demo, actions_portal):
    """A message whose input channel claims `webchat` in a REST conversation acts as REST;
    a web chat login is never usable from a REST conversation with the same suffix."""
    web = BotConversation("shared", channel="webchat")
    web.say("logg inn", "login")
    web.say(KARI, "inform", {"fnr": KARI})
    web.say("2580", "inform")
    web.say(latest_code(db, "+4791234567"), "inform",
            {"otp_code": latest_code(db, "+4791234567")})
    assert web.slots["logged_in"] is True
    assert "Feievarsel" in web.texts(web.say("brev", "check_messages"))

    rest = BotConversation("shared")
    rest.channel = "webchat"  # what a REST client could put in `input_channel`
    rest.slots["logged_in"] = True  # even a forged slot gives no access
    reply = rest.texts(rest.say("brev", "check_messages"))
    assert "Feievarsel" not in reply and "fødselsnummer" in reply
    assert rest.slots["logged_in"] is None


def test_a_conversation_of_no_channel_reaches_nothing(db, demo, actions_portal):
    bot = BotConversation("x")
    bot.sender_id = "default"  # what Rasa's own REST channel gives a request without sender
    reply = bot.texts(bot.say("148385 42035", "inform", {"fnr": "148385 42035"}))
    assert "prøv igjen" in reply.lower()
    assert fresh(db, select(func.count()).select_from(OutboundSms)) == 0


def test_a_handoff_names_the_citizen_logged_in_in_that_conversation_only(
        db, demo, actions_portal):
    from portal.models import HandoffRequest

    kari = logged_in(db, actions_portal)
    stranger = BotConversation("stranger", channel="webchat")
    kari.say("jeg vil snakke med et menneske", "human_handoff")
    stranger.say("jeg vil snakke med et menneske", "human_handoff")
    rows = db.execute(select(HandoffRequest.channel, HandoffRequest.conversation_id,
                             HandoffRequest.citizen_id).order_by(HandoffRequest.id)).all()
    db.rollback()
    assert [tuple(r) for r in rows] == [(Channel.REST, "rest-conv-kari", demo[KARI]),
                                        (Channel.WEBCHAT, "web-stranger", None)]
