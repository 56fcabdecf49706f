"""The admin JSON API end to end with real parts (slow, once, on PostgreSQL): annotations
through the API, one real background training (TRAINING_EPOCHS_SCALE), its progress polled,
the evaluation against the live model as a background job (one per version), activation on a
running Rasa server, rollback."""
from __future__ import annotations

import time

import pytest
import requests

from assistant.model import model_path
from assistant.rasa_servers import RasaServers
from portal.models import Channel
from tests.admin_fixtures import staff_pair, token_for
from tests.conftest import T0
from tests.e2e.test_training_loop import OUT_OF_SCOPE, SKRANKEN
from tests.training_fixtures import add_conversation, add_message
from tests.redis_fixtures import clean_redis, settings  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def served_model(rasa: RasaServers) -> str:
    return rasa.model_file(rasa.urls[0])


def follow(client, job: dict, headers: dict, timeout: float) -> tuple:
    """Polls a job at its link until it ends: (the job, every progress seen)."""
    seen = []
    deadline = time.monotonic() + timeout
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(2)
        job = client.get(job["links"]["self"], headers=headers).get_json()
        seen.append(job["progress"])
    return job, seen


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_train_evaluate_activate_and_roll_back_through_the_api(
        app, client, clock, db, settings, embedded_stack, trained_model, monkeypatch):
    monkeypatch.setenv("TRAINING_EPOCHS_SCALE", "0.25")
    # The runner inherits the portal process's environment, which `assistant up` gives
    # ASSISTANT_ENV and the portal's secrets; the test app's settings are not in os.environ.
    monkeypatch.setenv("ASSISTANT_ENV", "test")
    runtime = embedded_stack.runtime
    rasa = RasaServers([runtime.rasa_url], runtime.rasa_auth_token)
    app.extensions["rasa_servers"] = lambda: rasa
    startup = model_path(settings.var_dir / "models")  # the model the servers started with
    startup.parent.mkdir(parents=True, exist_ok=True)
    startup.symlink_to(trained_model)
    assert served_model(rasa) == trained_model.name

    admin, _ = staff_pair(app, clock)
    headers = {"Authorization": f"Bearer {token_for(app, clock, admin)}"}
    web = add_conversation(db, Channel.WEBCHAT, "web-1", T0)
    ids = {text: add_message(db, web, text, intent="out_of_scope", confidence=0.4).id
           for text in SKRANKEN + OUT_OF_SCOPE}
    db.commit()
    for text, message_id in ids.items():
        body = {"intent": "human_handoff"} if text in SKRANKEN else {"out_of_scope": True}
        answer = client.post(f"/api/v1/admin/nlu/inbox/{message_id}/annotate", json=body,
                             headers=headers)
        assert answer.status_code == 200, answer.get_json()

    started = client.post("/api/v1/admin/models/train", headers=headers)
    assert started.status_code == 202, started.get_json()
    job = started.get_json()
    second = client.post("/api/v1/admin/models/train", headers=headers)
    assert second.status_code == 409
    assert second.get_json()["error"]["code"] == "training_running"
    job, seen = follow(client, job, headers, timeout=1200)
    assert job["state"] == "succeeded", job
    assert seen == sorted(seen) and seen[-1] == 100 and len(set(seen)) > 2
    version_id = job["model_version_id"]

    early = client.post(f"/api/v1/admin/models/{version_id}/activate", json={},
                        headers=headers)
    assert early.status_code == 409
    assert early.get_json()["error"]["code"] == "evaluation_required"
    queued = client.post(f"/api/v1/admin/models/{version_id}/evaluate", headers=headers)
    assert queued.status_code == 202, queued.get_json()
    job = queued.get_json()
    assert (job["kind"], job["state"], job["evaluation"]) == ("evaluate", "running", None)
    again = client.post(f"/api/v1/admin/models/{version_id}/evaluate", headers=headers)
    assert again.status_code == 200 and again.get_json()["id"] == job["id"]  # one job
    job, seen = follow(client, job, headers, timeout=900)
    assert job["state"] == "succeeded", job
    assert seen == sorted(seen) and seen[-1] == 100
    report = job["evaluation"]
    assert report["heldout_size"] >= 4 and report["candidate_failed_tests"] == 0
    assert report["candidate_macro_f1"] >= report["baseline_macro_f1"]
    assert "human_handoff" in report["report"]["candidate"]["per_intent"]

    bank = client.get("/api/v1/admin/models", headers=headers).get_json()["versions"]
    assert bank[0]["id"] == version_id and bank[0]["evaluation"]["id"] == report["id"]
    activated = client.post(f"/api/v1/admin/models/{version_id}/activate", json={},
                            headers=headers)
    assert activated.status_code == 200, activated.get_json()
    assert served_model(rasa) == f"{bank[0]['file']}"
    answer = requests.post(f"{runtime.rasa_url}/model/parse", json={"text": "gi meg skranken"},
                           headers={"Authorization": f"Bearer {runtime.rasa_auth_token}"},
                           timeout=60).json()
    assert answer["intent"]["name"] == "human_handoff"

    back = client.post("/api/v1/admin/models/rollback", headers=headers)
    assert back.status_code == 200, back.get_json()
    assert served_model(rasa) == trained_model.name
    bank = client.get("/api/v1/admin/models", headers=headers).get_json()["versions"]
    assert [v["file"] for v in bank if v["active"]] == [startup.name]
