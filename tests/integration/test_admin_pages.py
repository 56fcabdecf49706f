"""The admin training pages through the real Flask app on SQLite and PostgreSQL: only admins,
annotation forms (plain and htmx), the models page, the job region, the comparison, an
evaluation queued as a job (a real runner process) and the activation gate."""
from __future__ import annotations

import html
import socket

import pytest
from sqlalchemy import func, select

from assistant.rasa_servers import RasaServers
from portal.models import ModelActivation, NluAnnotation, TrainingJob
from tests.admin_fixtures import (KARI, active_and_candidate, add_evaluation, add_version,
                                  citizen_messages, ended_job, make_active, running_job,
                                  staff_pair)
from tests.staff_helpers import csrf_of, log_in
from tests.redis_fixtures import clean_redis, settings  # noqa: F401 - fixtures

PAGES = ["/staff/admin/nlu", "/staff/admin/models", "/staff/admin/models/1",
         "/staff/admin/jobs/1"]
FORMS = ["/staff/admin/nlu/1/annotate", "/staff/admin/models/train",
         "/staff/admin/models/1/evaluate", "/staff/admin/models/1/activate",
         "/staff/admin/models/1/rollback"]


@pytest.fixture
def people(app, clock):
    return staff_pair(app, clock)


@pytest.fixture
def admin_client(app, clock, people):
    client = app.test_client()
    log_in(client, clock, people[0])
    return client


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def read(db, fn):
    db.rollback()
    try:
        return fn()
    finally:
        db.rollback()


def test_a_caseworker_reaches_no_admin_page(app, clock, db, people):
    client = app.test_client()
    log_in(client, clock, people[1])
    token = csrf_of(client.get("/staff/").get_data(as_text=True))
    home = client.get("/staff/").get_data(as_text=True)
    assert "/staff/admin/nlu" not in home and "/staff/admin/models" not in home
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Ingen tilgang" in text_of(response)
    for path in FORMS:
        response = client.post(path, data={"csrf_token": token, "label": "greet"})
        assert response.status_code == 403, path
    anonymous = app.test_client()
    for path in PAGES:
        assert anonymous.get(path).status_code == 401
    assert read(db, lambda: db.execute(select(func.count(TrainingJob.id))).scalar()) == 0


def test_inbox_page_and_annotating(admin_client, db):
    ids = citizen_messages(db)
    page = admin_client.get("/staff/admin/nlu")
    assert page.status_code == 200
    body = text_of(page)
    assert "3 ulike tekster" in body and KARI not in body
    assert "mitt fødselsnummer er [fødselsnummer] hjelp" in body
    assert "Hurtigtaster" in body and "<kbd>j</kbd>" in page.get_data(as_text=True)
    assert body.index("hei") < body.index("kor e rekninga mi")
    filtered = text_of(admin_client.get("/staff/admin/nlu?channel=sms&language=nn"))
    assert "1 ulike tekster" in filtered and "kor e rekninga mi" in filtered
    bad = admin_client.get("/staff/admin/nlu?below=7")
    assert bad.status_code == 422
    assert "Sikkerhet må være et tall fra 0 til 1." in text_of(bad)

    token = csrf_of(page.get_data(as_text=True))
    plain = admin_client.post(f"/staff/admin/nlu/{ids['rekning_web']}/annotate",
                              data={"csrf_token": token, "correct": "1",
                                    "intent": "check_invoices", "q": "channel=sms"})
    assert plain.status_code == 303 and plain.location.endswith("/staff/admin/nlu?channel=sms")

    htmx = {"HX-Request": "true"}
    row = admin_client.post(f"/staff/admin/nlu/{ids['hei']}/annotate", headers=htmx,
                            data={"csrf_token": token, "label": "greet"})
    assert row.status_code == 200
    fragment = text_of(row)
    assert fragment.lstrip().startswith(f'<tr id="msg-{ids["hei"]}"')
    assert "Merket: greet" not in fragment and "<strong>greet</strong>" in fragment
    assert "«hei» er merket greet." in fragment and 'hx-swap-oob="innerHTML"' in fragment

    refused = admin_client.post(f"/staff/admin/nlu/{ids['fnr']}/annotate", headers=htmx,
                                data={"csrf_token": token, "correct": "1",
                                      "intent": "pay_parking"})
    assert refused.status_code == 422
    assert "Merkingen ble ikke lagret: Ukjent intensjon. Velg en fra listen." in text_of(refused)
    gone = admin_client.post("/staff/admin/nlu/999999/annotate", headers=htmx,
                             data={"csrf_token": token, "label": "greet"})
    assert gone.status_code == 404
    no_csrf = admin_client.post(f"/staff/admin/nlu/{ids['fnr']}/annotate",
                                data={"label": "greet"})
    assert no_csrf.status_code == 400
    labels = read(db, lambda: {a.text: a.intent for a in
                               db.execute(select(NluAnnotation)).scalars()})
    assert labels == {"kor e rekninga mi": "check_invoices", "hei": "greet"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_models_page_jobs_comparison_and_gate(app, admin_client, clock, db, people, settings):
    models_dir = settings.var_dir / "models"
    old = add_version(db, models_dir, "bot-aaaa1111")
    make_active(db, old)
    worse = add_version(db, models_dir, "candidate-2-cccc3333", started_by=people[0].id)
    add_evaluation(db, worse, old, worse=True)
    db.commit()
    old_id, worse_id = old.id, worse.id
    db.rollback()
    app.extensions["rasa_servers"] = lambda: RasaServers(
        [f"http://127.0.0.1:{_closed_port()}"], "rasa-token", load_timeout=5)

    page = admin_client.get("/staff/admin/models")
    body = text_of(page)
    assert page.status_code == 200
    assert "Anne Admin" in body and "I bruk" in body and "Vurdert: dårligere" in body
    assert "0.500 / 0.750" in body and "Ingen trening er startet ennå." in body
    token = csrf_of(page.get_data(as_text=True))

    with running_job(app, clock, people[0].id) as job_id:
        refused = admin_client.post("/staff/admin/models/train", data={"csrf_token": token})
        assert refused.status_code == 409
        assert f"Trening {job_id} pågår allerede." in text_of(refused)
        region = admin_client.get(f"/staff/admin/jobs/{job_id}?seen=running")
        fragment = region.get_data(as_text=True)
        assert 'role="progressbar"' in fragment and 'aria-valuenow="42"' in fragment
        assert 'hx-trigger="every 2s"' in fragment
    ended = text_of(admin_client.get(f"/staff/admin/jobs/{job_id}?seen=running"))
    assert "Treningen feilet:" in ended and "hx-trigger" not in ended
    assert 'id="staff-live"' in ended  # the end is announced
    assert read(db, lambda: db.execute(select(func.count(TrainingJob.id))).scalar()) == 1

    with running_job(app, clock, people[0].id, version_id=worse_id) as evaluation_id:
        assert "Vurderes nå" in text_of(admin_client.get("/staff/admin/models"))
        joined = admin_client.post(f"/staff/admin/models/{worse_id}/evaluate",
                                   data={"csrf_token": token})
        assert joined.status_code == 200
        assert f"Vurdering {evaluation_id} av versjon {worse_id} pågår allerede." in \
            text_of(joined)
    assert read(db, lambda: db.execute(select(func.count(TrainingJob.id))).scalar()) == 2

    compare = text_of(admin_client.get(f"/staff/admin/models/{worse_id}"))
    assert "Vurderingen feilet: the evaluation process" in compare  # its runner went
    assert "Den nye versjonen er dårligere enn modellen i bruk." in compare
    assert "koble meg til skranken" in compare and "handoff: ask for a person" in compare
    assert "1.00 / 0.50 / 0.50" in compare and 'id="reason"' in compare
    no_reason = admin_client.post(f"/staff/admin/models/{worse_id}/activate",
                                  data={"csrf_token": token, "reason": " "})
    assert no_reason.status_code == 422
    assert "Skriv en begrunnelse" in text_of(no_reason)
    failed = admin_client.post(f"/staff/admin/models/{worse_id}/activate",
                               data={"csrf_token": token, "reason": "needed for the handoff"})
    assert failed.status_code == 502
    assert "Byttet feilet på en Rasa-server." in text_of(failed)
    never = admin_client.post(f"/staff/admin/models/{worse_id}/rollback",
                              data={"csrf_token": token})
    assert never.status_code == 409 and "aldri vært i bruk" in text_of(never)
    activations = read(db, lambda: [(a.version_id, a.ok) for a in db.execute(
        select(ModelActivation).order_by(ModelActivation.id)).scalars()])
    assert activations == [(old_id, True), (worse_id, False)]
    assert admin_client.get("/staff/admin/models/4242").status_code == 404


def test_evaluating_is_a_job_followed_on_the_comparison_page(app, admin_client, db, settings):
    _, version = active_and_candidate(db, settings.var_dir / "models")
    page = admin_client.get(f"/staff/admin/models/{version}")
    token = csrf_of(page.get_data(as_text=True))
    assert 'id="evaluate-button"' in page.get_data(as_text=True)
    assert 'id="evaluate-job"' not in page.get_data(as_text=True)  # no evaluation job yet

    queued = admin_client.post(f"/staff/admin/models/{version}/evaluate",
                               data={"csrf_token": token})
    assert queued.status_code == 202
    job_id = read(db, lambda: db.execute(select(TrainingJob.id)).scalar_one())
    body, markup = text_of(queued), queued.get_data(as_text=True)
    assert f"Vurdering {job_id} av versjon {version} er satt i kø." in body
    assert f"Vurdering {job_id}: i kø" in body  # the request only queued it
    assert f'aria-label="Fremdrift for vurdering {job_id}"' in markup
    assert f'hx-get="/staff/admin/jobs/{job_id}?seen=running"' in markup
    assert "Vurderingen pågår." in body and 'id="evaluate-button"' not in markup
    again = admin_client.post(f"/staff/admin/models/{version}/evaluate",
                              data={"csrf_token": token})
    assert again.status_code == 200
    assert f"Vurdering {job_id} av versjon {version} pågår allerede." in text_of(again)
    assert read(db, lambda: db.execute(select(func.count(TrainingJob.id))).scalar()) == 1

    ended_job(app, job_id)
    poll = admin_client.get(f"/staff/admin/jobs/{job_id}?seen=running")
    fragment = text_of(poll)
    failure = (f"Vurderingen feilet: The file of model version {version} is not a Rasa model "
               "archive: candidate-2-bbbb2222.tar.gz.")
    assert failure in fragment and "hx-trigger" not in fragment
    assert f'<div id="staff-live" hx-swap-oob="innerHTML">{failure}</div>' in fragment
    assert 'id="evaluation-result" hx-swap-oob="outerHTML"' in fragment  # the actions again
    assert 'id="evaluate-button"' in fragment and "Vurderingen pågår." not in fragment
    assert 'id="evaluate-job-log"' in fragment and "Traceback" in fragment  # the log, in full
    quiet = text_of(admin_client.get(f"/staff/admin/jobs/{job_id}"))  # not seen running
    assert "staff-live" not in quiet and "evaluation-result" not in quiet

    compare = text_of(admin_client.get(f"/staff/admin/models/{version}"))
    assert failure in compare and "Versjonen er ikke vurdert mot modellen i bruk." in compare
    admin_client.post("/staff/language", data={"csrf_token": token, "lang": "en",
                                              "next": f"/staff/admin/models/{version}"})
    english = text_of(admin_client.get(f"/staff/admin/models/{version}"))
    assert f"Evaluation {job_id}: failed" in english and "The evaluation failed: " in english


def test_evaluating_what_cannot_be_evaluated_is_refused_on_the_page(admin_client, db, settings):
    _, gone = active_and_candidate(db, settings.var_dir / "models")
    token = csrf_of(admin_client.get("/staff/admin/models").get_data(as_text=True))
    missing = admin_client.post("/staff/admin/models/4242/evaluate", data={"csrf_token": token})
    assert missing.status_code == 404 and "Versjonen finnes ikke." in text_of(missing)
    (settings.var_dir / "models" / "candidate-2-bbbb2222.tar.gz").unlink()
    refused = admin_client.post(f"/staff/admin/models/{gone}/evaluate",
                                data={"csrf_token": token})
    assert refused.status_code == 409
    assert "Modellfilen til versjonen finnes ikke lenger." in text_of(refused)
    assert read(db, lambda: db.execute(select(func.count(TrainingJob.id))).scalar()) == 0
