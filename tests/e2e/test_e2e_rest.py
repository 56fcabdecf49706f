"""End to end: the real portal, action server and Rasa server, through the REST channel."""
import re

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import KARI, KARI_MOBILE, PERSONAL_CODES

pytestmark = pytest.mark.slow


def texts(messages):
    return "\n".join(m.get("text", "") for m in messages)


def code_from(messages):
    """The one-time code in the first of these SMS."""
    return re.search(r"\b(\d{6})\b", messages[0]["body"]).group(1)


def test_kari_logs_in_reads_accepts_and_checks_invoices(production_stack, e2e_pg_url):
    bot = production_stack
    production_stack.reset_demo()
    sender = "e2e-kari"
    assert "fødselsnummer" in texts(bot.rest(sender, "Hei, jeg vil logge inn"))
    assert "personlige koden" in texts(bot.rest(sender, KARI))
    before = len(bot.sms_to(KARI_MOBILE))
    assert "Hvis fødselsnummeret og den personlige koden stemmer" in texts(
        bot.rest(sender, PERSONAL_CODES[KARI]))
    code = code_from([bot.wait_for_sms(KARI_MOBILE, "Engangskoden", after=before)])
    reply = texts(bot.rest(sender, code))
    assert "Kari" in reply and "Solstrålen barnehage" in reply

    reply = texts(bot.rest(sender, "vis brevene mine"))
    assert "Feievarsel for Fjellveien 12" in reply
    reply = texts(bot.rest(sender, "les 1"))
    assert "feie pipen din" in reply

    reply = texts(bot.rest(sender, "jeg vil takke ja til barnehageplassen"))
    assert "Emma" in reply and "JA" in reply
    assert "Du har takket ja" in texts(bot.rest(sender, "ja"))

    reply = texts(bot.rest(sender, "faktura"))
    assert "3 315,00 kr" in reply and "202701148385000113" in reply

    engine = create_engine(e2e_pg_url, future=True)
    with engine.connect() as conn:
        offer = conn.execute(text(
            "SELECT status, answered_via FROM kindergarten_offers "
            "WHERE child_name = 'Emma Nordmann'")).one()
        letter = conn.execute(text(
            "SELECT status, read_via FROM letters WHERE title = 'Feievarsel for Fjellveien 12'"
        )).one()
        actions = set(conn.execute(text(
            "SELECT action FROM audit_events WHERE citizen_id = "
            "(SELECT id FROM citizens WHERE fnr = :fnr)"), {"fnr": KARI}).scalars())
    engine.dispose()
    assert tuple(offer) == ("ACCEPTED", "rest")
    assert tuple(letter) == ("LEST", "rest")
    assert {"login.success", "letter.list", "letter.read", "offer.accept",
            "invoice.list"} <= actions
