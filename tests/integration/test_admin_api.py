"""The admin JSON API on SQLite and PostgreSQL: roles, the inbox and annotations, training
jobs (one at a time), evaluation jobs (one per version, run by a real runner process), the
model bank and the activation gates. Bad requests get the portal's JSON error and change
nothing."""
from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assistant.rasa_servers import RasaServers
from portal.models import (AuditEvent, ModelActivation, ModelEvaluation, NluAnnotation,
                           TrainingJob)
from tests.admin_fixtures import (FNR_TEXT, active_and_candidate, add_evaluation, add_version,
                                  citizen_messages, ended_job, make_active, running_job,
                                  staff_pair, token_for)
from tests.conftest import KARI
from tests.redis_fixtures import clean_redis, settings  # noqa: F401 - fixtures

ENDPOINTS = [("GET", "/api/v1/admin/nlu/inbox", None),
             ("POST", "/api/v1/admin/nlu/inbox/1/annotate", {"intent": "greet"}),
             ("POST", "/api/v1/admin/models/train", None),
             ("GET", "/api/v1/admin/jobs/1", None),
             ("GET", "/api/v1/admin/models", None),
             ("POST", "/api/v1/admin/models/1/activate", {}),
             ("POST", "/api/v1/admin/models/1/rollback", None),
             ("POST", "/api/v1/admin/models/1/evaluate", None),
             ("POST", "/api/v1/admin/models/rollback", None)]


@pytest.fixture
def tokens(app, clock):
    admin, caseworker = staff_pair(app, clock)
    return {"admin": token_for(app, clock, admin), "caseworker": token_for(app, clock, caseworker),
            "admin_id": admin.id}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def call(client, method, path, token, body=None):
    return client.open(path, method=method, headers=bearer(token),
                       json=body if body is not None else ({} if method == "POST" else None))


def read(db, fn):
    """Reads through the test's session and ends its transaction (SQLite's BEGIN IMMEDIATE
    would hold the write lock against the requests)."""
    db.rollback()
    try:
        return fn()
    finally:
        db.rollback()


def count(db, model) -> int:
    return read(db, lambda: db.execute(select(func.count()).select_from(model)).scalar())


def audit(db, action: str) -> list:
    return read(db, lambda: [(e.actor_id, e.detail) for e in db.execute(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        .scalars()])


def test_only_admins_reach_the_admin_api(client, db, tokens):
    for method, path, body in ENDPOINTS:
        refused = call(client, method, path, tokens["caseworker"], body)
        assert refused.status_code == 403, (path, refused.get_json())
        assert refused.get_json()["error"]["code"] == "forbidden_role"
        anonymous = client.open(path, method=method, json=body)
        assert anonymous.status_code == 401
        assert anonymous.get_json()["error"]["code"] == "invalid_token"
    assert count(db, TrainingJob) == 0 and count(db, NluAnnotation) == 0


def test_inbox_groups_filters_and_redacts(client, db, tokens):
    ids = citizen_messages(db)
    page = call(client, "GET", "/api/v1/admin/nlu/inbox", tokens["admin"]).get_json()
    assert page["total"] == 3
    texts = [(r["text"], r["count"]) for r in page["rows"]]
    assert texts == [("mitt fødselsnummer er [fødselsnummer] hjelp", 1), ("hei", 1),
                     ("kor e rekninga mi", 2)]
    assert KARI not in str(page)
    assert page["rows"][2]["message_id"] == ids["rekning_sms"]

    def texts_for(query):
        response = call(client, "GET", f"/api/v1/admin/nlu/inbox?{query}", tokens["admin"])
        assert response.status_code == 200, response.get_json()
        return [r["text"] for r in response.get_json()["rows"]]

    assert texts_for("below=0.5") == ["kor e rekninga mi"]
    assert texts_for("fell_back=true") == ["kor e rekninga mi"]
    assert texts_for("intent=greet") == ["hei"]
    assert texts_for("language=nn") == ["kor e rekninga mi"]
    assert texts_for("channel=webchat") == ["hei", "kor e rekninga mi"]
    assert texts_for("since=2026-11-24T12:30:00") == [
        "mitt fødselsnummer er [fødselsnummer] hjelp"]
    assert texts_for("until=2026-11-24T10:30:00") == ["kor e rekninga mi"]
    assert texts_for("per_page=1&page=2") == ["hei"]
    assert len(texts_for("until=2026-11-24")) == 3  # a date includes the whole day
    assert texts_for("since=2026-11-25") == []
    for query, code in (("below=2", "bad_threshold"), ("below=lav", "invalid_input"),
                        ("channel=fax", "unknown_channel"), ("since=i+går", "bad_since"),
                        ("page=0", "bad_paging")):
        bad = call(client, "GET", f"/api/v1/admin/nlu/inbox?{query}", tokens["admin"])
        assert bad.status_code == 422, query
        assert bad.get_json()["error"]["code"] == code, (query, bad.get_json())
    reads = audit(db, "nlu.inbox")
    assert reads and all(actor == f"staff:{tokens['admin_id']}" for actor, _ in reads)
    assert FNR_TEXT not in str(reads)


def test_annotate_labels_or_refuses_and_changes_nothing(client, db, tokens):
    ids = citizen_messages(db)
    url = f"/api/v1/admin/nlu/inbox/{ids['rekning_web']}/annotate"
    for body, status, code in (({"intent": "pay_parking"}, 422, "unknown_intent"),
                               ({"intent": "nlu_fallback"}, 422, "unknown_intent"),
                               ({}, 422, "invalid_input"),
                               ({"intent": "greet", "ignore": True}, 422, "invalid_input"),
                               ({"out_of_scope": False}, 422, "invalid_input"),
                               ({"intent": 5}, 422, "invalid_input")):
        refused = call(client, "POST", url, tokens["admin"], body)
        assert refused.status_code == status, (body, refused.get_json())
        assert refused.get_json()["error"]["code"] == code, (body, refused.get_json())
    for gone in (999999, ids["bot"]):
        refused = call(client, "POST", f"/api/v1/admin/nlu/inbox/{gone}/annotate",
                       tokens["admin"], {"intent": "greet"})
        assert refused.status_code == 404
        assert refused.get_json()["error"]["code"] == "message_not_found"
    assert count(db, NluAnnotation) == 0
    assert audit(db, "nlu.annotate") == []

    done = call(client, "POST", url, tokens["admin"], {"intent": "check_invoices"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["label"] == "check_invoices"
    again = call(client, "POST", f"/api/v1/admin/nlu/inbox/{ids['fnr']}/annotate",
                 tokens["admin"], {"out_of_scope": True}).get_json()
    assert again["label"] == "out_of_scope" and KARI not in again["text"]
    ignored = call(client, "POST", f"/api/v1/admin/nlu/inbox/{ids['hei']}/annotate",
                   tokens["admin"], {"ignore": True}).get_json()
    assert ignored["label"] == "ignore"
    labels = read(db, lambda: {a.text: (a.intent, a.state)
                               for a in db.execute(select(NluAnnotation)).scalars()})
    assert labels["kor e rekninga mi"] == ("check_invoices", "accepted")
    assert labels["hei"] == (None, "ignored")
    rows = call(client, "GET", "/api/v1/admin/nlu/inbox?unannotated=true",
                tokens["admin"]).get_json()
    assert rows["total"] == 0
    assert len(audit(db, "nlu.annotate")) == 3


def test_a_second_training_is_refused_while_one_runs(app, client, clock, db, tokens):
    with running_job(app, clock, tokens["admin_id"]) as job_id:
        refused = call(client, "POST", "/api/v1/admin/models/train", tokens["admin"])
        assert refused.status_code == 409
        error = refused.get_json()["error"]
        assert error["code"] == "training_running" and str(job_id) in error["message"]
        assert count(db, TrainingJob) == 1
        job = call(client, "GET", f"/api/v1/admin/jobs/{job_id}", tokens["admin"]).get_json()
        assert (job["state"], job["progress"], job["stage"]) == ("running", 42, "NLU epoch 4/10")
    # The runner is gone: the job is failed with its cause the next time anyone looks.
    job = call(client, "GET", f"/api/v1/admin/jobs/{job_id}", tokens["admin"]).get_json()
    assert job["state"] == "failed" and "is gone" in job["error"]
    missing = call(client, "GET", "/api/v1/admin/jobs/4242", tokens["admin"])
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "job_not_found"


def test_evaluate_queues_one_job_per_version_and_its_runner_records_the_failure(
        app, client, db, tokens, settings):
    _, candidate = active_and_candidate(db, settings.var_dir / "models")
    url = f"/api/v1/admin/models/{candidate}/evaluate"

    def click(_=None):
        return call(app.test_client(), "POST", url, tokens["admin"])

    # A double click: two requests at once get one job, the first 202, the other 200.
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(click, range(2)))
    assert sorted(a.status_code for a in answers) == [200, 202], [a.get_json() for a in answers]
    job = next(a for a in answers if a.status_code == 202).get_json()
    assert {a.get_json()["id"] for a in answers} == {job["id"]}
    # The request returned with the job queued: nothing was evaluated in it.
    assert (job["kind"], job["state"], job["stage"], job["progress"]) == (
        "evaluate", "running", "queued", 0)
    assert job["model_version_id"] == candidate and job["evaluation"] is None
    assert job["links"] == {"self": f"/api/v1/admin/jobs/{job['id']}",
                            "models": "/api/v1/admin/models",
                            "page": f"/staff/admin/models/{candidate}"}
    assert count(db, TrainingJob) == 1 and count(db, ModelEvaluation) == 0
    queued = audit(db, "model.evaluate_queued")
    assert queued == [(f"staff:{tokens['admin_id']}", {"model_version_id": candidate})]

    # The runner, a process of its own, fails on the file and says so on the job.
    ended = ended_job(app, job["id"])
    assert ended.pid and ended.pid != os.getpid()
    shown = call(client, "GET", job["links"]["self"], tokens["admin"]).get_json()
    assert shown["state"] == "failed" and shown["evaluation"] is None
    assert shown["error"] == ("The file of model version "
                              f"{candidate} is not a Rasa model archive: "
                              "candidate-2-bbbb2222.tar.gz.")
    log = Path(ended.log_path).read_text()
    assert "Traceback" in log and "Traceback" not in shown["error"]
    assert audit(db, "model.evaluate_failed") == [
        (f"staff:{tokens['admin_id']}", {"model_version_id": candidate,
                                         "error": shown["error"]})]
    assert count(db, ModelEvaluation) == 0
    app.extensions["rasa_servers"] = lambda: RasaServers([f"http://127.0.0.1:{_closed_port()}"],
                                                         "rasa-token", load_timeout=5)
    gate = call(client, "POST", f"/api/v1/admin/models/{candidate}/activate", tokens["admin"],
                {})
    assert gate.status_code == 409 and gate.get_json()["error"]["code"] == "evaluation_required"

    # Once it has ended, evaluating again is a new job.
    again = click()
    assert again.status_code == 202 and again.get_json()["id"] != job["id"]
    ended_job(app, again.get_json()["id"])


def test_evaluate_refuses_what_cannot_be_evaluated(app, client, db, tokens, settings):
    models_dir = settings.var_dir / "models"
    lone = add_version(db, models_dir, "candidate-1-aaaa1111")  # nothing serves: no baseline
    db.commit()
    lone = lone.id
    db.rollback()
    refusals = [(4242, 404, "version_not_found"), (lone, 409, "no_baseline")]
    for version_id, status, code in refusals:
        refused = call(client, "POST", f"/api/v1/admin/models/{version_id}/evaluate",
                       tokens["admin"])
        assert refused.status_code == status, refused.get_json()
        assert refused.get_json()["error"]["code"] == code
    _, candidate = active_and_candidate(db, settings.var_dir / "models")
    (models_dir / "candidate-2-bbbb2222.tar.gz").unlink()
    refused = call(client, "POST", f"/api/v1/admin/models/{candidate}/evaluate",
                   tokens["admin"])
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "model_file_missing"
    assert count(db, TrainingJob) == 0 and audit(db, "model.evaluate_queued") == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_models_and_activation_gates(app, client, db, tokens, settings):
    models_dir = settings.var_dir / "models"
    old = add_version(db, models_dir, "bot-aaaa1111")
    make_active(db, old)
    better = add_version(db, models_dir, "candidate-2-bbbb2222", started_by=tokens["admin_id"])
    worse = add_version(db, models_dir, "candidate-3-cccc3333", started_by=tokens["admin_id"])
    fresh = add_version(db, models_dir, "candidate-4-dddd4444")
    add_evaluation(db, better, old, worse=False)
    add_evaluation(db, worse, old, worse=True)
    db.commit()
    old, better, worse, fresh = old.id, better.id, worse.id, fresh.id  # plain ids from here
    db.rollback()
    url = f"http://127.0.0.1:{_closed_port()}"
    app.extensions["rasa_servers"] = lambda: RasaServers([url], "rasa-token", load_timeout=5)

    bank = call(client, "GET", "/api/v1/admin/models", tokens["admin"]).get_json()["versions"]
    assert [v["id"] for v in bank] == [fresh, worse, better, old]
    by_id = {v["id"]: v for v in bank}
    assert by_id[old]["active"] and not by_id[better]["active"]
    assert by_id[worse]["evaluation"]["worse"] is True
    assert by_id[better]["evaluation"]["report"]["changed"][0]["after"] == "human_handoff"
    assert by_id[fresh]["evaluation"] is None
    assert by_id[better]["file"] == "candidate-2-bbbb2222.tar.gz"
    assert "path" not in by_id[better]

    activations = count(db, ModelActivation)
    for path, body, status, code in (
            (f"/models/{fresh}/activate", {}, 409, "evaluation_required"),
            (f"/models/{worse}/activate", {}, 422, "reason_required"),
            (f"/models/{worse}/activate", {"reason": "   "}, 422, "reason_required"),
            (f"/models/{worse}/activate", {"reason": 7}, 422, "invalid_input"),
            ("/models/4242/activate", {}, 404, "version_not_found"),
            (f"/models/{better}/rollback", None, 409, "never_active"),
            ("/models/rollback", None, 409, "nothing_to_roll_back")):
        refused = call(client, "POST", "/api/v1/admin" + path, tokens["admin"], body)
        assert refused.status_code == status, (path, refused.get_json())
        assert refused.get_json()["error"]["code"] == code, (path, refused.get_json())
    assert count(db, ModelActivation) == activations

    # Past the gates, a Rasa server that cannot be reached: 502, recorded, nothing swapped.
    failed = call(client, "POST", f"/api/v1/admin/models/{worse}/activate", tokens["admin"],
                  {"reason": "the handoff phrasing matters more this week"})
    assert failed.status_code == 502, failed.get_json()
    assert failed.get_json()["error"]["code"] == "activation_failed"
    attempt = read(db, lambda: db.execute(
        select(ModelActivation.version_id, ModelActivation.ok, ModelActivation.reason)
        .order_by(ModelActivation.id.desc()).limit(1)).one())
    assert tuple(attempt) == (worse, False, "the handoff phrasing matters more this week")
    bank = call(client, "GET", "/api/v1/admin/models", tokens["admin"]).get_json()["versions"]
    assert [v["id"] for v in bank if v["active"]] == [old]
    _, detail = audit(db, "model.activate")[-1]
    assert detail["reason"] == "the handoff phrasing matters more this week"
    assert detail["worse"] is True


def test_the_admin_api_is_in_the_openapi_document(client):
    spec = client.get("/openapi.json").get_json()
    for path in ("/api/v1/admin/nlu/inbox", "/api/v1/admin/nlu/inbox/{message_id}/annotate",
                 "/api/v1/admin/models/train", "/api/v1/admin/jobs/{job_id}",
                 "/api/v1/admin/models", "/api/v1/admin/models/{version_id}/activate",
                 "/api/v1/admin/models/{version_id}/rollback"):
        assert path in spec["paths"], path
    activate = spec["paths"]["/api/v1/admin/models/{version_id}/activate"]["post"]
    assert {"403", "409", "422", "502"} <= set(activate["responses"])
