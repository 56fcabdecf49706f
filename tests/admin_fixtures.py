"""Arranging the admin training pages' world: admin and caseworker accounts, citizen messages,
model versions with their files, evaluations, a stand-in for a running job's runner, and
waiting for a real runner to end its job."""
from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Optional

from portal.models import (Channel, ModelActivation, ModelEvaluation, ModelVersion,
                           TrainingJob)
from portal.staff import accounts
from tests.conftest import KARI, T0
from tests.staff_helpers import create_staff
from tests.training_fixtures import add_conversation, add_message

ADMIN_EMAIL, CASEWORKER_EMAIL = "anne@bergen.kommune.no", "siri@bergen.kommune.no"
FNR_TEXT = f"mitt fødselsnummer er {KARI} hjelp"


def staff_pair(app, clock):
    """(admin, caseworker) enrolled accounts."""
    admin = create_staff(app, clock, ADMIN_EMAIL, role="admin", name="Anne Admin")
    caseworker = create_staff(app, clock, CASEWORKER_EMAIL, role="caseworker")
    return admin, caseworker


def token_for(app, clock, account) -> str:
    portal = app.extensions["portal"]
    with portal.sessions() as db:
        member = db.get(accounts.StaffMember, account.id)
        return accounts.issue_token(db, member, now=clock.now(), by=accounts.CLI)


def citizen_messages(db) -> dict:
    """Three texts on two channels; the first twice. Returns message ids by name."""
    web = add_conversation(db, Channel.WEBCHAT, "web-a", T0)
    sms = add_conversation(db, Channel.SMS, "sms-b", T0)
    ids = {
        "rekning_web": add_message(db, web, "kor e rekninga mi", confidence=0.31, at=T0).id,
        "rekning_sms": add_message(db, sms, "kor e rekninga mi", confidence=0.35, language="nn",
                                   at=T0 + timedelta(hours=1)).id,
        "hei": add_message(db, web, "hei", intent="greet", confidence=0.99,
                           at=T0 + timedelta(hours=2)).id,
        "fnr": add_message(db, sms, FNR_TEXT, intent="help", confidence=0.55,
                           at=T0 + timedelta(hours=3)).id,
        "bot": add_message(db, web, "Hei! Hva kan jeg hjelpe med?", direction="out",
                           author="bot", at=T0).id,
    }
    db.commit()
    return ids


def add_version(db, models_dir: Path, name: str, *, at=T0, started_by: Optional[int] = None,
                seconds: float = 95.0) -> ModelVersion:
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{name}.tar.gz"
    path.write_bytes(b"\0" * 2048)
    version = ModelVersion(path=str(path), data_hash=name.rsplit("-", 1)[-1].ljust(16, "0"),
                           started_by=started_by, created_at=at, size_bytes=2048,
                           training_seconds=seconds, annotations=4)
    db.add(version)
    db.flush()
    return version


def make_active(db, version: ModelVersion, at=T0) -> None:
    db.add(ModelActivation(version_id=version.id, at=at, staff_id=None, ok=True,
                           reason="arranged", servers=[]))
    db.flush()


def active_and_candidate(db, models_dir: Path) -> tuple:
    """The ids of an active version and a candidate "candidate-2-bbbb2222" (their files are
    no Rasa model archives: a real evaluation of them fails at once), committed."""
    old = add_version(db, models_dir, "bot-aaaa1111")
    make_active(db, old)
    candidate = add_version(db, models_dir, "candidate-2-bbbb2222")
    db.commit()
    ids = old.id, candidate.id
    db.rollback()
    return ids


def add_evaluation(db, candidate: ModelVersion, baseline: ModelVersion, *, worse: bool,
                   at=T0) -> ModelEvaluation:
    cand_f1, base_f1 = (0.5, 0.75) if worse else (1.0, 0.5)
    row = ModelEvaluation(
        candidate_id=candidate.id, baseline_id=baseline.id, baseline_path=baseline.path, at=at,
        heldout_size=4, candidate_macro_f1=cand_f1, baseline_macro_f1=base_f1,
        candidate_failed_tests=1 if worse else 0, worse=worse,
        report={"candidate": {"per_intent": {
                    "human_handoff": {"precision": 1.0, "recall": cand_f1, "f1": cand_f1,
                                      "support": 2},
                    "out_of_scope": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}},
                    "macro_f1": cand_f1, "out_of_scope_rejection": 1.0},
                "baseline": {"per_intent": {
                    "human_handoff": {"precision": 0.0, "recall": 0.0, "f1": base_f1,
                                      "support": 2},
                    "out_of_scope": {"precision": 0.5, "recall": 1.0, "f1": 0.67, "support": 2}},
                    "macro_f1": base_f1, "out_of_scope_rejection": 1.0},
                "changed": [{"text": "koble meg til skranken", "expected": "human_handoff",
                             "before": "out_of_scope", "after": "human_handoff"}],
                "failing_conversation_tests": ["handoff: ask for a person"] if worse else [],
                "work_dir": "/tmp/arranged"})
    db.add(row)
    db.flush()
    return row


@contextmanager
def running_job(app, clock, staff_id: int, version_id: Optional[int] = None):
    """A job whose runner process is alive (a sleeping process with the runner's command
    line), so the one-at-a-time rules hold while it lives: a training, or with `version_id`
    an evaluation of that version."""
    portal = app.extensions["portal"]
    slots = ({"running_slot": 1, "stage": "NLU epoch 4/10"} if version_id is None else
             {"kind": "evaluate", "evaluation_slot": version_id, "model_version_id": version_id,
              "stage": "Rasa's tests: 1 of 3 done"})
    with portal.sessions() as db:
        job = TrainingJob(state="running", progress=42, started_by=staff_id,
                          started_at=clock.now(), host=None, **slots)
        db.add(job)
        db.commit()
        job_id = job.id
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                                "run-job", str(job_id)])
    try:
        with portal.sessions() as db:
            db.get(TrainingJob, job_id).pid = process.pid
            db.commit()
        yield job_id
    finally:
        process.kill()
        process.wait()


def ended_job(app, job_id: int, timeout: float = 180) -> TrainingJob:
    """The job once its runner process has ended it (read from the database)."""
    portal = app.extensions["portal"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with portal.sessions() as db:
            job = db.get(TrainingJob, job_id)
        if job.state != "running":
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still running after {timeout} s")
