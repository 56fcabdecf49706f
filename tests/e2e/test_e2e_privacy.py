"""Fødselsnummer, one-time codes and phone numbers never reach trackers or logs in clear."""
import json
import re

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import KARI, KARI_MOBILE, PERSONAL_CODES

pytestmark = pytest.mark.slow

PHONE = "91234567"


def secrets_in(blob: str, code: str) -> list:
    found = []
    for label, pattern in (("fnr", KARI), ("fnr with space", "148385 42035"),
                           ("code", code), ("phone", PHONE),
                           ("personal code", f"kode {PERSONAL_CODES[KARI]}")):
        if pattern in blob:
            found.append(label)
    return found


def test_login_leaves_no_secret_in_tracker_store_or_logs(production_stack, e2e_pg_url):
    bot = production_stack
    sender = "privacy-kari"
    production_stack.reset_demo()
    bot.rest(sender, "logg inn")
    bot.rest(sender, "fødselsnummeret mitt er 148385 42035")
    before = len(bot.sms_to(KARI_MOBILE))
    bot.rest(sender, f"personlig kode {PERSONAL_CODES[KARI]}")
    sms = bot.wait_for_sms(KARI_MOBILE, "Engangskoden", after=before)
    code = re.search(r"\b(\d{6})\b", sms["body"]).group(1)
    reply = bot.rest(sender, f"koden er {code}")
    assert "Kari" in " ".join(m.get("text", "") for m in reply)
    bot.rest(sender, "mitt nummer er 912 34 567, ring meg")

    engine = create_engine(e2e_pg_url, future=True)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT data FROM events WHERE sender_id = :s"),
                            {"s": bot.conversation_id(sender)}).scalars().all()
    engine.dispose()
    assert len(rows) > 10, "the tracker store holds the conversation"
    stored = "\n".join(json.dumps(json.loads(row), ensure_ascii=False) for row in rows)
    assert "[fødselsnummer]" in stored and "[kode]" in stored and "[telefon]" in stored
    assert secrets_in(stored, code) == []

    tracker = json.dumps(bot.tracker(bot.conversation_id(sender)), ensure_ascii=False)
    assert secrets_in(tracker, code) == []

    for path in bot.log_files:
        assert secrets_in(path.read_text(errors="replace"), code) == [], path.name


def test_rasa_api_requires_the_auth_token(production_stack):
    url = f"{production_stack.runtime.rasa_url}/conversations/rest-privacy-kari/tracker"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer wrong"},
                        timeout=10).status_code == 401
    parse = production_stack.rasa_api("/model/parse", "POST", json={"text": "les 2"})
    assert parse.status_code == 200
    assert parse.json()["intent"]["name"] == "read_message"
