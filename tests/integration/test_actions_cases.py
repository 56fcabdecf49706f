"""Writing to the municipality through the custom actions against the real portal over HTTP:
the login it waits for, a letter number not in the list, a message too long, JA and NEI, and a
handoff outside opening hours."""
from sqlalchemy import func, select

from portal.models import CitizenCase
from tests.bot_harness import BotConversation
from tests.integration.test_actions_journeys import fresh, latest_code, logged_in
from tests.conftest import KARI, PERSONAL_CODES


def cases(db):
    rows = db.execute(select(CitizenCase.status, CitizenCase.body)
                      .order_by(CitizenCase.id)).all()
    db.rollback()
    return [tuple(r) for r in rows]


def test_skriv_til_kommunen_waits_for_the_login_then_asks_and_sends(db, demo, actions_portal):
    bot = BotConversation("case-login", channel="sms")
    assert "fødselsnummer" in bot.texts(bot.say("skriv til kommunen", "write_to_municipality"))
    bot.say(KARI, "inform", {"fnr": KARI})
    bot.say(PERSONAL_CODES[KARI], "inform")
    code = latest_code(db, "+4791234567")
    reply = bot.texts(bot.say(code, "inform", {"otp_code": code}))
    assert "Hei, Kari" in reply and "Skriv meldingen din til kommunen" in reply
    assert "barnehageplass" not in reply  # the open offer waits: she came to write
    assert bot.active_loop == "case_form"

    text = "Kan jeg få utsatt fristen? Saken har nummer 2026/4711."
    restated = bot.texts(bot.say(text, "nlu_fallback"))
    assert f"«{text}»" in restated and "Svar JA eller NEI" in restated
    assert bot.slots["case_text"] is None and bot.slots["pending_case"]
    assert cases(db) == [("draft", text)]
    assert "Meldingen er sendt" in bot.texts(bot.say("ja", "affirm"))
    assert cases(db) == [("open", text)]
    assert "ingenting å svare ja eller nei på" in bot.texts(bot.say("ja", "affirm"))
    assert cases(db) == [("open", text)]


def test_a_letter_not_in_the_list_and_a_message_too_long(db, demo, actions_portal):
    bot = logged_in(db, actions_portal)
    reply = bot.texts(bot.say("svar på brev 42", "write_to_municipality",
                              {"message_number": "42"}))
    assert "42" in reply and bot.active_loop is None
    reply = bot.texts(bot.say("svar på brev 1", "write_to_municipality",
                              {"message_number": "1"}))
    assert "Skriv svaret ditt på brev 1" in reply and bot.slots["case_letter_id"]

    reply = bot.texts(bot.say("x" * 1600, "nlu_fallback"))
    assert "for lang (høyst 1500 tegn)" in reply and "Skriv svaret ditt på brev 1" in reply
    assert bot.active_loop == "case_form" and cases(db) == []
    reply = bot.texts(bot.say("AVBRYT", "deny"))
    assert "ingenting er sendt" in reply and bot.active_loop is None
    assert cases(db) == []


def test_nei_deletes_the_draft_and_a_number_without_a_letter_is_no_reply(db, demo,
                                                                         actions_portal):
    bot = logged_in(db, actions_portal)
    reply = bot.texts(bot.say("jeg vil skrive til kommunen om 2 ting", "write_to_municipality",
                              {"message_number": "2"}))
    assert "Skriv meldingen din til kommunen" in reply and not bot.slots["case_letter_id"]
    bot.say("Først: takk for brøytingen. Så: hullet i veien.", "nlu_fallback")
    assert [status for status, _ in cases(db)] == ["draft"]
    assert "ingenting er sendt" in bot.texts(bot.say("nei", "deny"))
    assert cases(db) == []
    assert bot.slots["pending_case"] is None


def test_a_handoff_after_hours_says_when_caseworkers_are_back(db, demo, actions_portal, clock):
    clock.advance(days=4)  # T0 is a Tuesday: Saturday 28 November 2026
    bot = BotConversation("after-hours", channel="webchat")
    reply = bot.texts(bot.say("menneske", "human_handoff"))
    assert "tilbake mandag 30. november kl. 08:00" in reply and "SKRIV TIL KOMMUNEN" in reply
    clock.advance(days=-4)
    assert "registrert" in bot.texts(bot.say("menneske", "human_handoff"))
    assert fresh(db, select(func.count()).select_from(CitizenCase)) == 0


def test_a_login_expired_while_writing_asks_for_the_message_again_after_the_login(
        db, demo, actions_portal, clock):
    bot = logged_in(db, actions_portal)
    bot.say("skriv til kommunen", "write_to_municipality")
    clock.advance(hours=2)  # the session's idle time is over
    reply = bot.texts(bot.say("Når tømmes søpla?", "nlu_fallback"))
    assert "fødselsnummer" in reply and cases(db) == []
    bot.say(KARI, "inform", {"fnr": KARI})
    bot.say(PERSONAL_CODES[KARI], "inform")
    code = latest_code(db, "+4791234567")
    assert "Skriv meldingen din til kommunen" in bot.texts(
        bot.say(code, "inform", {"otp_code": code}))


def test_ja_takk_to_a_restated_message_sends_it_and_leaves_the_offer_alone(db, demo,
                                                                          actions_portal):
    bot = logged_in(db, actions_portal)
    bot.say("skriv til kommunen", "write_to_municipality")
    bot.say("Kan dere måke fortauet?", "nlu_fallback")
    reply = bot.texts(bot.say("ja takk", "accept_offer"))
    assert "Meldingen er sendt" in reply and "Emma" not in reply
    assert cases(db) == [("open", "Kan dere måke fortauet?")]
    bot.say("Hei igjen", "write_to_municipality")
    bot.say("Glem det", "nlu_fallback")
    assert "ingenting er sendt" in bot.texts(bot.say("nei takk", "decline_offer"))
    assert cases(db) == [("open", "Kan dere måke fortauet?")]
