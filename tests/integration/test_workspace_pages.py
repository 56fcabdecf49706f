"""The workspace pages through the Flask client: login guard, CSRF, refusals shown on the
page, audited reads, review filters."""
from __future__ import annotations

from sqlalchemy import select

from portal.models import AuditEvent
from tests.staff_helpers import csrf_of, logged_in_client
from tests.workspace_helpers import connect, conversation_id, waiting_webchat, ws_app  # noqa: F401


def test_pages_need_a_login_and_forms_need_csrf(ws_app, clock):
    anonymous = ws_app.test_client()
    cid = conversation_id(ws_app, waiting_webchat(anonymous))
    for path in ("/staff/", "/staff/queue", f"/staff/conversations/{cid}", "/staff/review",
                 f"/staff/conversations/{cid}/transcript"):
        assert anonymous.get(path).status_code == 401, path
    assert anonymous.post(f"/staff/conversations/{cid}/claim").status_code in (400, 401)

    _, client = logged_in_client(ws_app, clock, "siri@bergen.kommune.no", "Siri Berg")
    refused = client.post(f"/staff/conversations/{cid}/claim", data={})
    assert refused.status_code == 400
    assert "Skjemaet var utløpt" in refused.get_data(as_text=True)
    page = client.get(f"/staff/conversations/{cid}").get_data(as_text=True)
    assert "Assistenten svarer" in page  # nobody took it over
    assert client.get("/staff/conversations/999999").status_code == 404


def test_take_over_on_the_page_and_the_second_caseworker_is_told_who_has_it(ws_app, clock):
    anonymous = ws_app.test_client()
    sender = waiting_webchat(anonymous, "Hvem kan hjelpe meg med eiendomsskatt?")
    cid = conversation_id(ws_app, sender)
    siri, client = logged_in_client(ws_app, clock, "siri@bergen.kommune.no", "Siri Berg")
    _, other = logged_in_client(ws_app, clock, "ola@bergen.kommune.no", "Ola Nordmann")

    queue = client.get("/staff/").get_data(as_text=True)
    assert f"Samtale {cid}" in queue and "Nettprat" in queue and "Anonym" in queue
    page = client.get(f"/staff/conversations/{cid}").get_data(as_text=True)
    assert "Hvem kan hjelpe meg med eiendomsskatt?" in page
    assert "Tolket som human_handoff (93 %)" in page
    taken = client.post(f"/staff/conversations/{cid}/claim",
                        data={"csrf_token": csrf_of(page)})
    assert taken.status_code == 302
    page = client.get(taken.location).get_data(as_text=True)
    assert "Du har tatt over samtalen" in page and "Send svar" in page

    other_page = other.get(f"/staff/conversations/{cid}").get_data(as_text=True)
    refused = other.post(f"/staff/conversations/{cid}/claim",
                         data={"csrf_token": csrf_of(other_page)})
    assert refused.status_code == 409
    assert "Siri har allerede tatt over denne samtalen." in refused.get_data(as_text=True)
    assert other.get("/staff/?tab=live").get_data(as_text=True).count(f"Samtale {cid}") == 1
    assert f"Samtale {cid}" not in other.get("/staff/?tab=mine").get_data(as_text=True)

    left = client.post(f"/staff/conversations/{cid}/messages",
                       data={"csrf_token": csrf_of(page), "text": "Hei!"})
    assert left.status_code == 409
    assert "Innbyggeren har forlatt nettpraten" in left.get_data(as_text=True)
    connect(anonymous, sender)
    sent = client.post(f"/staff/conversations/{cid}/messages",
                       data={"csrf_token": csrf_of(page), "text": "Hei!"})
    assert sent.status_code == 302

    with ws_app.extensions["portal"].sessions() as db:
        reads = db.execute(select(AuditEvent.actor_id).where(
            AuditEvent.action == "conversation.read",
            AuditEvent.object_id == str(cid))).scalars().all()
    assert f"staff:{siri.id}" in reads and len(reads) >= 4


def test_review_filters_and_weekly_figures(ws_app, clock):
    anonymous = ws_app.test_client()
    waiting_webchat(anonymous, "Jeg trenger hjelp med faktura")
    _, client = logged_in_client(ws_app, clock, "siri@bergen.kommune.no", "Siri Berg")
    page = client.get("/staff/review?q=faktura&handoff=true").get_data(as_text=True)
    assert "1 samtaler" in page and "Tall per uke" in page
    assert "0 samtaler" in client.get("/staff/review?q=bompenger").get_data(as_text=True)
    bad = client.get("/staff/review?from=i-går&channel=brev")
    assert bad.status_code == 422 and "Filteret er ugyldig" in bad.get_data(as_text=True)
