"""The properties journey and the language choice, run by the real actions against the real
portal over HTTP."""
from sqlalchemy import select

from portal.models import AuditEvent, Citizen, Language
from tests.bot_harness import BotConversation
from tests.conftest import KARI, PERSONAL_CODES
from tests.integration.test_actions_journeys import fresh, latest_code, logged_in


def test_properties_need_a_login_and_follow_it(db, demo, actions_portal):
    bot = BotConversation("props-1")
    assert "fødselsnummer" in bot.texts(bot.say("eiendommen min", "check_properties"))
    bot.say(KARI, "inform", {"fnr": KARI})
    bot.say(PERSONAL_CODES[KARI], "inform")
    code = latest_code(db, "+4791234567")
    reply = bot.texts(bot.say(code, "inform", {"otp_code": code}))
    assert "Hei, Kari!" in reply
    assert "Fjellveien 12, 5019 Bergen (gnr. 12/bnr. 345, kommune 4601)" in reply
    assert "ingen ubetalt eiendomsskatt" in reply  # hers is paid
    listed = fresh(db, select(AuditEvent.detail).where(AuditEvent.action == "property.list"))
    assert listed == {"count": 1}


def test_properties_in_english(db, demo, actions_portal):
    bot = logged_in(db, actions_portal)
    bot.say("in English please", "choose_language")
    reply = bot.texts(bot.say("my properties", "check_properties"))
    assert "Properties you own: 1" in reply and "no unpaid property tax" in reply


def test_choosing_nynorsk_before_login_changes_the_language_only(db, demo, actions_portal):
    bot = BotConversation("lang-1")
    reply = bot.texts(bot.say("kan du skrive nynorsk", "choose_language"))
    assert reply == "Greitt, eg skriv nynorsk." and bot.slots["language"] == "nn"
    assert "fødselsnummeret" in bot.texts(bot.say("brev", "check_messages"))  # nynorsk text
    assert fresh(db, select(AuditEvent.id).where(AuditEvent.action == "profile.language")) is None


def test_a_logged_in_citizen_keeps_the_choice_for_the_next_login(db, demo, actions_portal):
    bot = logged_in(db, actions_portal)
    reply = bot.texts(bot.say("in English", "choose_language"))
    assert "remember it the next time you log in" in reply
    assert fresh(db, select(Citizen.language).where(Citizen.fnr == KARI)) == Language.EN
    detail = fresh(db, select(AuditEvent.detail).where(AuditEvent.action == "profile.language"))
    assert detail == {"from": "nb", "to": "en"}
    # A new conversation, in bokmål until the login: then her preference.
    again = BotConversation("lang-2")
    again.say("logg inn", "login")
    again.say(KARI, "inform", {"fnr": KARI})
    again.say(PERSONAL_CODES[KARI], "inform")
    code = latest_code(db, "+4791234567")
    assert "Hi, Kari!" in again.texts(again.say(code, "inform", {"otp_code": code}))
    assert again.slots["language"] == "en"


def test_a_language_named_with_another_gets_the_question(db, demo, actions_portal):
    bot = BotConversation("lang-3")
    reply = bot.texts(bot.say("nynorsk eller english?", "choose_language"))
    assert "BOKMÅL, NYNORSK eller ENGLISH" in reply  # in nynorsk: the word tells
    assert fresh(db, select(Citizen.language).where(Citizen.fnr == KARI)) == Language.NB


def test_the_language_endpoint_refuses_bad_input_and_changes_nothing(client, demo, db, clock,
                                                                      service_headers):
    from portal.models import Channel
    from portal.services.sessions import start_session

    kari = db.query(Citizen).filter(Citizen.fnr == KARI).one()
    start_session(db, kari, channel=Channel.REST, conversation_id="rest-lang-api",
                  now=clock.now(), idle_minutes=30)
    db.commit()
    headers = {**service_headers, "X-Channel": "rest", "X-Conversation-Id": "rest-lang-api"}
    for body in ({"language": "de"}, {"language": 1}, {}, {"language": "nb" * 100}):
        answer = client.put("/api/v1/me/language", json=body, headers=headers)
        assert answer.status_code in (400, 422), body
        assert answer.get_json()["error"]["code"]
    answer = client.put("/api/v1/me/language", data="{", headers={
        **headers, "Content-Type": "application/json"})
    assert answer.status_code == 400
    elsewhere = {**headers, "X-Conversation-Id": "rest-not-logged-in"}
    assert client.put("/api/v1/me/language", json={"language": "nn"},
                      headers=elsewhere).status_code == 401
    assert fresh(db, select(Citizen.language).where(Citizen.fnr == KARI)) == Language.NB
    assert client.put("/api/v1/me/language", json={"language": "nn"},
                      headers=headers).get_json() == {"language": "nn"}
