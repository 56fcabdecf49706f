"""End to end over SMS: signed Twilio webhooks into the portal, turns run by the turn workers
through the real Rasa server's gateway channel, replies out through the outbox and the SMS
worker to the Twilio stand-in, transcripts in the portal, and proactive letter notices."""
import re
import time
import uuid

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import KARI, KARI_MOBILE, PER, PERSONAL_CODES

pytestmark = pytest.mark.slow

OLA_MOBILE = "+4798765432"


def sid() -> str:
    return "SM" + uuid.uuid4().hex


class Phone:
    """A citizen's phone texting the assistant."""

    def __init__(self, stack, number):
        self.stack, self.number = stack, number
        self.sent = 0  # inbound SMS this phone has texted

    def send(self, body, expect, **options):
        """Texts `body` and waits for the reply containing `expect`."""
        self.sent += 1
        before = len(self.stack.sms_to(self.number))
        response = self.stack.post_sms(self.number, body, options.pop("message_sid", sid()),
                                       **options)
        assert response.status_code == 200
        assert response.text.endswith("<Response/>")
        return self.stack.wait_for_sms(self.number, expect, after=before)["body"]


def db_row(url, query, **params):
    engine = create_engine(url, future=True)
    with engine.connect() as conn:
        row = conn.execute(text(query), params).one()
    engine.dispose()
    return tuple(row)


def test_kari_over_sms_logs_in_reads_accepts_and_gets_a_notice(production_stack, e2e_pg_url):
    stack, kari = production_stack, Phone(production_stack, KARI_MOBILE)
    production_stack.reset_demo()
    # Other tests of the session may have texted from Kari's phone before: her transcript
    # is read from here on.
    (start,) = db_row(e2e_pg_url, "SELECT coalesce(max(id), 0) FROM transcript_messages")
    assert "fødselsnummer" in kari.send("logg inn", "fødselsnummer")
    assert "INGEN" in kari.send(KARI, "personlige koden")
    before = len(stack.sms_to(KARI_MOBILE))
    kari.send(PERSONAL_CODES[KARI], "Hvis fødselsnummeret og den personlige koden stemmer")
    code = re.search(r"\b(\d{6})\b",
                     stack.wait_for_sms(KARI_MOBILE, "Engangskoden", after=before)["body"])[1]
    assert "Kari" in kari.send(code, "Hei, Kari")

    listing = kari.send("brev", "Feievarsel")
    assert "LES 1" in listing
    assert "feie pipen" in kari.send("les 1", "feie pipen")

    confirm = kari.send("jeg vil takke ja til barnehageplassen", "Emma")
    assert "JA" in confirm
    kari.send("JA", "Du har takket ja")
    assert db_row(e2e_pg_url, "SELECT status, answered_via FROM kindergarten_offers "
                  "WHERE child_name = 'Emma Nordmann'") == ("ACCEPTED", "sms")
    # From "logg inn" to an accepted place: logg inn, fødselsnummer, personal code, SMS code,
    # brev, les 1, takk ja, JA.
    assert kari.sent == 8

    assert "3 315,00 kr" in kari.send("faktura", "3 315,00 kr")

    # The case system files a letter: Kari gets a notice, and LES reads it.
    before = len(stack.sms_to(KARI_MOBILE))
    dispatched = requests.post(f"{stack.runtime.portal_url}/api/v1/dispatch/letters", json={
        "fnr": KARI, "sender_unit": "Vann og avløp", "title": "Varsel om vannstopp",
        "body": "Vannet blir stengt i Fjellveien torsdag kl. 09-12 på grunn av arbeid.",
        "category": "varsel"}, headers={"Authorization": f"Bearer {stack.runtime.settings.dispatch_token}"},
        timeout=10)
    assert dispatched.status_code == 201
    notice = stack.wait_for_sms(KARI_MOBILE, "Varsel om vannstopp", after=before)["body"]
    assert notice.startswith("Du har fått brev fra Bergen kommune") and "Svar LES" in notice
    assert "Vannet blir stengt" in kari.send("LES", "Vannet blir stengt")
    assert db_row(e2e_pg_url, "SELECT status, read_via FROM letters WHERE id = :id",
                  id=dispatched.json()["id"]) == ("LEST", "sms")

    assert stack.twilio.violations == []
    segments = [int(m["num_segments"]) for m in stack.sms_to(KARI_MOBILE)]
    assert max(segments) <= 3

    # The portal's transcript: every message once, masked, with what the bot understood.
    engine = create_engine(e2e_pg_url, future=True)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT t.direction, t.author, t.text, t.intent, t.entities, t.action, t.status "
            "FROM transcript_messages t JOIN conversations c ON c.id = t.conversation_id "
            "WHERE c.channel = 'sms' AND c.sender_key = (SELECT sender_key FROM "
            "sms_identities WHERE phone = :p) AND t.id > :start ORDER BY t.id"),
            {"p": KARI_MOBILE, "start": start}).all()
    engine.dispose()
    texts = [r.text for r in rows]
    assert all(KARI not in t and code not in t for t in texts)
    assert "[fødselsnummer]" in texts and "[kode]" in texts
    assert all(f"kode {PERSONAL_CODES[KARI]}" not in t and t != PERSONAL_CODES[KARI]
               for t in texts)
    inbound = [r for r in rows if r.direction == "in"]
    assert [r.text for r in inbound][:4] == ["logg inn", "[fødselsnummer]", "[kode]", "[kode]"]
    assert inbound[0].intent == "login" and inbound[1].entities == ["fnr"]
    replies = [r for r in rows if r.author == "bot"]
    assert replies and [r for r in replies if not r.action] == []
    assert {r.status for r in replies} <= {"queued", "sent", "delivered"}


PER_MOBILE = "+4741234000"


def test_per_s_first_sms_login_chooses_a_personal_code_then_needs_it(production_stack,
                                                                   e2e_pg_url):
    stack, per = production_stack, Phone(production_stack, PER_MOBILE)
    stack.reset_demo()
    per.send("logg inn", "fødselsnummer")
    per.send(PER, "personlige koden")
    before = len(stack.sms_to(PER_MOBILE))
    per.send("INGEN", "Hvis fødselsnummeret")
    code = re.search(r"\b(\d{6})\b",
                     stack.wait_for_sms(PER_MOBILE, "Engangskoden", after=before)["body"])[1]
    assert "Velg en personlig kode" in per.send(code, "Velg en personlig kode")
    assert "rekke" in per.send("1234", "rekke")
    per.send("5173", "er lagret")
    per.send("logg ut", "logget ut")
    # Now the code is needed: a wrong one sends no SMS, the right one does.
    per.send("logg inn", "fødselsnummer")
    per.send(PER, "personlige koden")
    before = len(stack.sms_to(PER_MOBILE))
    per.send("9999", "Hvis fødselsnummeret")
    time.sleep(2)
    assert not [m for m in stack.sms_to(PER_MOBILE)[before:] if "Engangskoden" in m["body"]]
    per.send("logg inn", "fødselsnummer")
    per.send(PER, "personlige koden")
    before = len(stack.sms_to(PER_MOBILE))
    per.send("5173", "Hvis fødselsnummeret")
    stack.wait_for_sms(PER_MOBILE, "Engangskoden", after=before)


def test_a_reset_asked_for_over_sms_is_cancelled_by_avbryt_from_the_phone(production_stack,
                                                                          e2e_pg_url):
    stack, kari = production_stack, Phone(production_stack, KARI_MOBILE)
    stack.reset_demo()
    kari.send("glemt personlig kode", "fødselsnummer")
    before = len(stack.sms_to(KARI_MOBILE))
    assert "AVBRYT" in kari.send(KARI, "24 timer")
    notice = stack.wait_for_sms(KARI_MOBILE, "nullstille den personlige koden", after=before)
    assert "Svar AVBRYT" in notice["body"]
    assert "avbrutt" in kari.send("AVBRYT", "avbrutt")
    assert db_row(e2e_pg_url, "SELECT reset_due_at FROM personal_codes WHERE citizen_id = "
                  "(SELECT id FROM citizens WHERE fnr = :f)", f=KARI) == (None,)


def test_forged_and_unsigned_webhooks_are_refused_and_change_nothing(production_stack,
                                                                     e2e_pg_url):
    stack = production_stack
    count = "SELECT count(*) FROM inbound_sms"
    (before,) = db_row(e2e_pg_url, count)
    assert stack.post_sms(KARI_MOBILE, "brev", sid(), sign=False).status_code == 403
    forged = requests.post(f"{stack.runtime.portal_url}/webhooks/twilio/sms",
                           data={"MessageSid": sid(), "From": KARI_MOBILE, "Body": "brev"},
                           headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, timeout=10)
    assert forged.status_code == 403
    assert db_row(e2e_pg_url, count) == (before,)


def test_a_retried_webhook_runs_no_second_turn(production_stack, e2e_pg_url):
    stack, ola = production_stack, Phone(production_stack, OLA_MOBILE)
    message_sid = sid()
    ola.send("hjelp meg", "BREV", message_sid=message_sid)
    replies = len(stack.sms_to(OLA_MOBILE))
    assert stack.post_sms(OLA_MOBILE, "hjelp meg", message_sid).status_code == 409
    time.sleep(2)  # give a (wrong) second turn every chance to show up
    assert len(stack.sms_to(OLA_MOBILE)) == replies
    assert db_row(e2e_pg_url, "SELECT count(*) FROM inbound_sms WHERE message_sid = :s",
                  s=message_sid) == (1,)


def test_stop_silences_the_number_until_start(production_stack):
    stack, ola = production_stack, Phone(production_stack, OLA_MOBILE)
    assert "START" in ola.send("stopp", "START")
    replies = len(stack.sms_to(OLA_MOBILE))
    assert stack.post_sms(OLA_MOBILE, "brev", sid()).status_code == 200
    time.sleep(2)
    assert len(stack.sms_to(OLA_MOBILE)) == replies  # nothing is sent to an opted-out number
    ola.send("START", "Velkommen tilbake")
    assert "FAKTURA" in ola.send("HJELP", "FAKTURA")


def test_pictures_get_a_polite_text_only_reply(production_stack):
    Phone(production_stack, OLA_MOBILE).send("", "bare lese tekst", num_media=1)


def signed_form(stack, url, form):
    from twilio.request_validator import RequestValidator

    token = stack.env["TWILIO_AUTH_TOKEN"]
    return RequestValidator(token).compute_signature(url, form)


def test_a_tampered_body_or_another_url_breaks_the_signature(production_stack, e2e_pg_url):
    stack = production_stack
    url = stack.runtime.settings.public_base_url + "/webhooks/twilio/sms"
    form = {"MessageSid": sid(), "From": KARI_MOBILE, "To": "+4759440000", "Body": "brev",
            "NumMedia": "0"}
    signature = signed_form(stack, url, form)
    (before,) = db_row(e2e_pg_url, "SELECT count(*) FROM inbound_sms")
    tampered = requests.post(f"{stack.runtime.portal_url}/webhooks/twilio/sms",
                             data={**form, "Body": "logg ut"},
                             headers={"X-Twilio-Signature": signature}, timeout=10)
    assert tampered.status_code == 403
    elsewhere = signed_form(stack, "https://evil.example/webhooks/twilio/sms", form)
    wrong_url = requests.post(f"{stack.runtime.portal_url}/webhooks/twilio/sms", data=form,
                              headers={"X-Twilio-Signature": elsewhere}, timeout=10)
    assert wrong_url.status_code == 403
    assert db_row(e2e_pg_url, "SELECT count(*) FROM inbound_sms") == (before,)


def test_status_callbacks_through_the_channel_only_move_forward(production_stack, e2e_pg_url):
    stack = production_stack
    Phone(stack, OLA_MOBILE).send("hjelp meg", "BREV")
    message = stack.sms_to(OLA_MOBILE)[0]
    status = "SELECT status FROM outbound_sms WHERE provider_sid = :sid"
    for update in ("sent", "delivered", "sent"):  # the last one arrives late
        assert stack.twilio.send_status(message["sid"], update).status_code == 200
    assert db_row(e2e_pg_url, status, sid=message["sid"]) == ("delivered",)
    forged = requests.post(f"{stack.runtime.portal_url}/webhooks/twilio/status",
                           data={"MessageSid": message["sid"], "MessageStatus": "failed"},
                           headers={"X-Twilio-Signature": "Zm9yZ2Vk"}, timeout=10)
    assert forged.status_code == 403
    assert db_row(e2e_pg_url, status, sid=message["sid"]) == ("delivered",)
