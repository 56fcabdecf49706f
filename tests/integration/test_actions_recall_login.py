"""A login made outside the chat (ID-porten's callback opens the session in the portal): the
bot asks the portal before asking for a fødselsnummer, and follows it."""
from portal.models import Channel, Citizen
from portal.services.sessions import end_session, start_session
from tests.bot_harness import BotConversation
from tests.conftest import KARI


def open_session(db, clock, conversation_id):
    kari = db.query(Citizen).filter(Citizen.fnr == KARI).one()
    _, session = start_session(db, kari, channel=Channel.WEBCHAT,
                               conversation_id=conversation_id, now=clock.now(),
                               idle_minutes=30)
    db.commit()
    return session


def test_letters_after_a_login_outside_the_chat(db, demo, clock, actions_portal):
    bot = BotConversation("outside-1", channel="webchat")
    open_session(db, clock, bot.sender_id)
    assert not bot.slots["logged_in"]
    reply = bot.texts(bot.say("brev", "check_messages"))
    assert "1. Feievarsel for Fjellveien 12" in reply and "fødselsnummer" not in reply
    assert bot.slots["logged_in"] is True and bot.slots["first_name"] == "Kari"


def test_log_in_says_already_logged_in_after_a_login_outside_the_chat(db, demo, clock,
                                                                       actions_portal):
    bot = BotConversation("outside-2", channel="webchat")
    open_session(db, clock, bot.sender_id)
    reply = bot.texts(bot.say("logg inn", "login"))
    assert "allerede logget inn" in reply and "fødselsnummer" not in reply
    assert bot.slots["logged_in"] is True and bot.slots["first_name"] == "Kari"


def test_a_login_in_another_conversation_is_not_recalled(db, demo, clock, actions_portal):
    elsewhere = BotConversation("outside-3", channel="webchat")
    open_session(db, clock, elsewhere.sender_id)
    bot = BotConversation("outside-4", channel="webchat")
    reply = bot.texts(bot.say("brev", "check_messages"))
    assert "fødselsnummer" in reply and "Feievarsel" not in reply
    assert not bot.slots["logged_in"]


def test_an_ended_session_is_not_recalled(db, demo, clock, actions_portal):
    bot = BotConversation("outside-5", channel="webchat")
    session = open_session(db, clock, bot.sender_id)
    end_session(db, session, now=clock.now(), reason="logout")
    db.commit()
    reply = bot.texts(bot.say("brev", "check_messages"))
    assert "fødselsnummer" in reply and not bot.slots["logged_in"]
