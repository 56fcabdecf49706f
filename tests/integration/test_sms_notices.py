"""Proactive letter notices: KRR, opt-out, quiet hours and at most one notice an hour."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from portal.models import Letter, LetterStatus, OutboundSms, SmsIdentity, SmsNotice
from portal.conversations import sms_inbox as conversation
from portal.services import notices
from portal.sms.sender_keys import ensure_identity
from tests.conftest import KARI, KARI_MOBILE, PER

LETTER = {"sender_unit": "Vann og avløp", "title": "Varsel om vannstopp",
          "body": "Vannet blir stengt torsdag.", "category": "varsel"}


def dispatch(client, dispatch_headers, fnr=KARI, **changes):
    response = client.post("/api/v1/dispatch/letters", headers=dispatch_headers,
                           json={"fnr": fnr, **LETTER, **changes})
    assert response.status_code == 201
    return response.json["id"]


def sms_to(db, phone):
    db.expire_all()
    rows = db.execute(select(OutboundSms.body).where(OutboundSms.to_number == phone,
                                                     OutboundSms.purpose == "notice")
                      .order_by(OutboundSms.id)).scalars().all()
    db.rollback()
    return rows


def test_a_notice_goes_out_at_once_in_office_hours(client, db, demo, dispatch_headers):
    letter_id = dispatch(client, dispatch_headers)
    assert sms_to(db, KARI_MOBILE) == [
        "Du har fått brev fra Bergen kommune: Varsel om vannstopp. Svar LES for å lese det."]
    assert db.get(Letter, letter_id).status == LetterStatus.VARSLET
    identity = db.execute(select(SmsIdentity).where(SmsIdentity.phone == KARI_MOBILE)).scalar_one()
    assert identity.notice_letter_ids == [letter_id]


def test_krr_reserved_citizens_get_no_notice(client, db, demo, dispatch_headers):
    dispatch(client, dispatch_headers, fnr=PER)
    assert sms_to(db, "+4741234000") == []


def test_opted_out_numbers_get_no_notice(client, app, db, demo, dispatch_headers, clock):
    settings = app.extensions["portal"].settings
    key = ensure_identity(db, settings.identity_key, KARI_MOBILE, clock.now()).sender_key
    db.commit()
    conversation.set_opted_out(db, key, True, clock.now())
    dispatch(client, dispatch_headers)
    assert sms_to(db, KARI_MOBILE) == []


def test_letters_within_the_hour_are_summed_up_in_one_later_notice(client, app, db, demo,
                                                                   dispatch_headers, clock):
    portal = app.extensions["portal"]
    dispatch(client, dispatch_headers, title="Første brev")
    clock.advance(minutes=10)
    dispatch(client, dispatch_headers, title="Andre brev")
    clock.advance(minutes=10)
    dispatch(client, dispatch_headers, title="Tredje brev")
    assert len(sms_to(db, KARI_MOBILE)) == 1  # one notice an hour at the most
    clock.advance(minutes=39)
    assert notices.send_due(db, portal.settings, now=clock.now()) == 0
    clock.advance(minutes=2)
    assert notices.send_due(db, portal.settings, now=clock.now()) == 1
    assert sms_to(db, KARI_MOBILE)[-1] == (
        "Du har fått 2 brev fra Bergen kommune, sist: Tredje brev. Svar LES for å lese det nyeste.")


@pytest.mark.parametrize("dispatched_at, due_at", [
    (datetime(2026, 11, 24, 20, 30, tzinfo=timezone.utc), datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)),
    (datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc), datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)),
    (datetime(2026, 11, 24, 19, 59, tzinfo=timezone.utc), datetime(2026, 11, 24, 19, 59, tzinfo=timezone.utc)),
])
def test_quiet_hours_hold_notices_until_eight(client, app, db, demo, dispatch_headers, clock,
                                              dispatched_at, due_at):
    """21:00-08:00 in Bergen (UTC+1 in November) is 20:00-07:00 UTC."""
    clock.at = dispatched_at
    dispatch(client, dispatch_headers)
    notice = db.execute(select(SmsNotice)).scalar_one()
    assert notice.due_at == due_at
    sent_now = notice.status == "sent"
    assert sent_now == (dispatched_at == due_at)
    if not sent_now:
        assert sms_to(db, KARI_MOBILE) == []
        clock.at = due_at
        assert notices.send_due(db, app.extensions["portal"].settings, now=clock.now()) == 1
        assert len(sms_to(db, KARI_MOBILE)) == 1
