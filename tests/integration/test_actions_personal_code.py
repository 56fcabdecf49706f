"""The personal code in the chat, the real actions against the real portal over HTTP: the
first login chooses one (refusals explained in the citizen's language), changing it, the
reset of a forgotten one and AVBRYT from the registered mobile."""
from sqlalchemy import func, select

from portal.models import AuditEvent, OutboundSms, PersonalCode
from portal.sms.sender_keys import ensure_identity
from tests.bot_harness import BotConversation
from tests.conftest import KARI, KARI_MOBILE, PER
from tests.integration.test_actions_journeys import fresh, latest_code, logged_in

PER_MOBILE = "+4741234000"


def sms_count(db, mobile):
    return fresh(db, select(func.count()).select_from(OutboundSms)
                 .where(OutboundSms.to_number == mobile))


def test_the_first_login_chooses_a_code_then_the_journey_resumes(db, demo, actions_portal):
    bot = BotConversation("conv-per")
    bot.say("brev", "check_messages")
    bot.say(PER, "inform", {"fnr": PER})
    reply = bot.texts(bot.say("INGEN", "no_personal_code"))
    assert "Hvis fødselsnummeret og den personlige koden stemmer" in reply
    code = latest_code(db, PER_MOBILE)
    reply = bot.texts(bot.say(code, "inform", {"otp_code": code}))
    assert "Hei, Per!" in reply and "Velg en personlig kode på 4 til 8 siffer" in reply
    assert bot.slots["login_step"] == "choose_code"
    for typed, rule in [("1111", "samme siffer gjentatt"), ("2345", "en rekke"),
                        ("0709", "fødselsdatoen din"), ("12", "4 til 8 siffer")]:
        assert rule in bot.texts(bot.say(typed, "inform")), typed
    reply = bot.texts(bot.say("5173", "inform"))
    assert "personlige koden din er lagret" in reply
    assert "Du har" in reply or "brev" in reply.lower()  # the letters it waited for follow
    assert bot.slots["login_step"] is None
    assert fresh(db, select(PersonalCode.code_hash).where(
        PersonalCode.citizen_id == demo[PER])).startswith("$argon2id$")


def test_refusals_are_explained_in_nynorsk_and_english(db, demo, actions_portal):
    for language, words in [("nn", "ei rekkje"), ("en", "a run of digits")]:
        bot = BotConversation(f"conv-per-{language}")
        bot.slots["language"] = language
        bot.say("logg inn", "login")
        bot.say(PER, "inform", {"fnr": PER})
        bot.say("INGEN", "no_personal_code")
        code = latest_code(db, PER_MOBILE)
        bot.say(code, "inform", {"otp_code": code})
        bot.slots["language"] = language
        assert words in bot.texts(bot.say("9876", "inform"))


def test_a_wrong_personal_code_sends_no_sms(db, demo, actions_portal):
    before = sms_count(db, KARI_MOBILE)
    bot = BotConversation("conv-wrong")
    bot.say("logg inn", "login")
    bot.say(KARI, "inform", {"fnr": KARI})
    reply = bot.texts(bot.say("9999", "inform"))
    assert "Hvis fødselsnummeret og den personlige koden stemmer" in reply
    assert sms_count(db, KARI_MOBILE) == before
    assert "feil" in bot.texts(bot.say("123456", "inform", {"otp_code": "123456"}))


def test_changing_the_code_asks_the_old_one_first(db, demo, actions_portal):
    bot = logged_in(db, actions_portal)
    assert "koden du har nå" in bot.texts(bot.say("endre personlig kode",
                                                  "change_personal_code"))
    assert "4 forsøk igjen" in bot.texts(bot.say("1357", "inform"))
    assert "nye personlige koden" in bot.texts(bot.say("2580", "inform"))
    assert "en rekke" in bot.texts(bot.say("4567", "inform"))
    assert "er endret" in bot.texts(bot.say("8025", "inform"))
    actions = [a for (a,) in db.execute(select(AuditEvent.action).where(
        AuditEvent.action.like("personal_code.%")).where(
        AuditEvent.citizen_id == demo[KARI]).order_by(AuditEvent.id))]
    db.rollback()
    assert actions[-3:] == ["personal_code.confirm_failed", "personal_code.confirmed",
                            "personal_code.changed"]


def test_changing_needs_a_login(db, demo, actions_portal):
    bot = BotConversation("conv-anon")
    assert "fødselsnummer" in bot.texts(bot.say("endre personlig kode",
                                                "change_personal_code"))


def test_a_reset_is_announced_to_the_mobile_and_avbryt_from_that_phone_stops_it(
        app, db, demo, clock, actions_portal):
    bot = BotConversation("conv-forgot")
    assert "nullstille" in bot.texts(bot.say("glemt personlig kode", "forgot_personal_code"))
    reply = bot.texts(bot.say(KARI, "inform", {"fnr": KARI}))
    assert "AVBRYT" in reply and bot.slots["login_step"] is None
    notice = fresh(db, select(OutboundSms.body).where(OutboundSms.to_number == KARI_MOBILE,
                                                      OutboundSms.purpose == "personal_code"))
    assert "Svar AVBRYT" in notice
    # AVBRYT over another channel changes nothing; from Kari's own phone it cancels.
    assert "avbrutt" not in BotConversation("conv-forgot").texts(
        BotConversation("conv-forgot").say("avbryt", "deny"))
    key = ensure_identity(db, app.extensions["portal"].settings.identity_key, KARI_MOBILE,
                          clock.now()).sender_key
    db.commit()
    phone = BotConversation(key[len("sms-"):], channel="sms")
    assert "avbrutt" in phone.texts(phone.say("AVBRYT", "deny"))
    assert fresh(db, select(PersonalCode.reset_due_at).where(
        PersonalCode.citizen_id == demo[KARI])) is None
