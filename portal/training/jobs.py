"""Background jobs of the training loop (trainings and evaluations): the job rows, the runner
process each job gets, its progress, a runner that is gone, cancelling."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import List, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.config import PROJECT_ROOT
from portal.errors import Conflict, NotFound
from portal.models import TrainingJob
from portal.services.audit import record
from portal.training.annotations import staff_actor

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
TRAIN, EVALUATE = "train", "evaluate"
NOUNS = {TRAIN: "training", EVALUATE: "evaluation"}
QUEUED = "queued"  # the stage of a job whose runner has not started yet
SPAWN_GRACE_SECONDS = 60  # a job whose runner never reported its pid is stale after this


class JobFailed(Exception):
    """A job's failure, worded for the admin (the job log has the details)."""


def _process_alive(pid: Optional[int], job_id: int) -> bool:
    """Whether `pid` is still this job's runner (not gone, not a zombie, not a reused pid)."""
    if not pid:
        return False
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return state not in ("Z", "X") and b"run-job" in cmdline \
            and str(job_id).encode() in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end(job: TrainingJob, state: str, now: datetime) -> None:
    job.state, job.running_slot, job.evaluation_slot, job.finished_at = state, None, None, now


def fail(job: TrainingJob, cause: str, now: datetime) -> None:
    """Ends a job as failed with its cause, freeing its slot."""
    _end(job, FAILED, now)
    job.error = cause


def succeed(job: TrainingJob, now: datetime) -> None:
    """Ends a job as done, freeing its slot."""
    _end(job, SUCCEEDED, now)
    job.progress, job.stage = 100, "done"


def reap_stale(db, now: datetime) -> List[int]:
    """Marks failed every running job on this host whose runner process is gone."""
    reaped = []
    for job in db.execute(select(TrainingJob).where(TrainingJob.state == RUNNING)).scalars():
        if job.host and job.host != socket.gethostname():
            continue
        noun = NOUNS.get(job.kind, "job")
        if job.pid is None:
            if (now - job.started_at).total_seconds() < SPAWN_GRACE_SECONDS:
                continue
            cause = f"the {noun} process never started"
        elif _process_alive(job.pid, job.id):
            continue
        else:
            cause = f"the {noun} process (pid {job.pid}) is gone: crashed or killed"
        fail(job, cause, now)
        reaped.append(job.id)
    db.flush()
    return reaped


def get_job(db, job_id: int, now: datetime) -> TrainingJob:
    reap_stale(db, now)
    job = db.get(TrainingJob, job_id)
    if job is None:
        raise NotFound(f"No training job {job_id}.", code="job_not_found")
    return job


def list_jobs(db, now: datetime, limit: int = 20, kind: Optional[str] = None
              ) -> List[TrainingJob]:
    """The newest jobs first, of one kind when given."""
    reap_stale(db, now)
    query = select(TrainingJob)
    if kind is not None:
        query = query.where(TrainingJob.kind == kind)
    return list(db.execute(query.order_by(TrainingJob.id.desc()).limit(limit)).scalars())


def new_job(kind: str, staff_id: int, now: datetime, **fields) -> TrainingJob:
    """A job row that has not started: running, in the queued stage, on this host."""
    return TrainingJob(kind=kind, state=RUNNING, progress=0, stage=QUEUED, started_by=staff_id,
                       started_at=now, host=socket.gethostname(), **fields)


def queue(portal, db, job: TrainingJob, action: str, detail: dict) -> bool:
    """Adds `job` holding its slot, audits `action` and commits; False (rolled back) when
    another job holds that slot."""
    db.add(job)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        return False
    log_dir = portal.settings.var_dir / "training"
    log_dir.mkdir(parents=True, exist_ok=True)
    job.log_path = str(log_dir / f"job-{job.id}.log")
    record(db, staff_actor(job.started_by), action, at=job.started_at,
           object_type="training_job", object_id=job.id, detail=detail)
    db.commit()
    return True


def runner_args(job_id: int) -> List[str]:
    return [sys.executable, "-m", "assistant.cli", "model", "run-job", str(job_id)]


def launch(portal, job: TrainingJob) -> TrainingJob:
    """Starts the runner process of a queued job (its own process group, its output in the
    job log, the portal's environment and database); returns the job with its pid."""
    env = {**os.environ, "ASSISTANT_ENV": portal.settings.environment,
           "DATABASE_URL": portal.settings.database_url,
           "ASSISTANT_VAR_DIR": str(portal.settings.var_dir), "PYTHONUNBUFFERED": "1",
           "RASA_TELEMETRY_ENABLED": "false"}
    with open(job.log_path, "ab") as log:  # a runner that fails to start says why here
        process = subprocess.Popen(runner_args(job.id), cwd=PROJECT_ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    with portal.sessions() as db:
        row = db.get(TrainingJob, job.id)
        if row.pid is None:
            row.pid = process.pid
        db.commit()
        return row


def claim(portal, job_id: int) -> Optional[TrainingJob]:
    """The runner's start: records its pid on the job; None when the job is not running."""
    with portal.sessions() as db:
        job = db.get(TrainingJob, job_id)
        if job is None or job.state != RUNNING:
            return None
        job.pid = os.getpid()
        db.commit()
        return job


def set_progress(portal, job_id: int, percent: int, stage: str) -> None:
    """Shows how far a running job is (a finished or cancelled one is left as it is)."""
    with portal.sessions() as db:
        job = db.get(TrainingJob, job_id)
        if job is not None and job.state == RUNNING:
            job.progress, job.stage = percent, stage[:60]
            db.commit()


def record_failure(portal, job_id: int, cause: str) -> None:
    """Marks a running job failed with its cause, audited as `model.<kind>_failed`."""
    with portal.sessions() as db:
        job = db.get(TrainingJob, job_id)
        if job is None or job.state != RUNNING:
            return
        now = portal.clock.now()
        fail(job, cause[:2000], now)
        record(db, staff_actor(job.started_by), f"model.{job.kind}_failed", at=now,
               object_type="training_job", object_id=job.id,
               detail={"model_version_id": job.model_version_id, "error": job.error})
        db.commit()


def cancel_job(portal, job_id: int, staff_id: int) -> TrainingJob:
    """Stops a running job (its whole process group); the active model is untouched."""
    now = portal.clock.now()
    with portal.sessions() as db:
        job = get_job(db, job_id, now)
        if job.state != RUNNING:
            raise Conflict(f"Training job {job_id} is not running ({job.state}).",
                           code="job_not_running")
        if job.pid and _process_alive(job.pid, job.id):
            try:
                os.killpg(job.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        fail(job, f"cancelled by staff {staff_id}", now)
        record(db, staff_actor(staff_id), f"model.{job.kind}_cancel", at=now,
               object_type="training_job", object_id=job.id)
        db.commit()
        return job
