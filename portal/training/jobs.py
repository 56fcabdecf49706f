"""Background training: one `rasa train` at a time, its progress, its log, its candidate."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import List, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.config import PROJECT_ROOT
from portal.errors import Conflict, NotFound
from portal.models import ModelVersion, TrainingJob
from portal.services.audit import record
from portal.training.annotations import staff_actor
from portal.training.data import build_training_root

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
SPAWN_GRACE_SECONDS = 60  # a job whose runner never reported its pid is stale after this


class TrainingRunning(Conflict):
    code = "training_running"


def _progress_rules():
    """(pattern, percent or None, stage) in training order; Rasa 3.6's log and tqdm lines."""
    return [
        (re.compile(r"Started validating domain and training data"), 3, "validating"),
        (re.compile(r"(?:Starting to train|Restored) component '(RegexFeaturizer)'"), 8, None),
        (re.compile(r"(?:Starting to train|Restored) component '(LexicalSyntacticFeaturizer)'"),
         12, None),
        (re.compile(r"(?:Starting to train|Restored) component '(CountVectorsFeaturizer)'"),
         18, None),
        (re.compile(r"(?:Starting to train|Restored) component '(DIETClassifier)'"), 30, None),
        (re.compile(r"Finished training component '(DIETClassifier)'"), 85, "core"),
        (re.compile(r"Processed (?:rules|trackers|story blocks)"), 90, "core"),
        (re.compile(r"Your Rasa model is trained and saved"), 98, "saving"),
    ]


class ProgressParser:
    """Turns Rasa's training output into a monotonic percentage and a stage name."""

    EPOCHS = re.compile(r"Epochs:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")

    def __init__(self):
        self.percent = 0
        self.stage = "starting"
        self.rules = _progress_rules()

    def feed(self, line: str) -> None:
        epochs = self.EPOCHS.search(line)
        if epochs:
            done, total = int(epochs.group(1)), int(epochs.group(2))
            self._set(30 + (55 * done) // max(total, 1), f"NLU epoch {done}/{total}")
            return
        for pattern, percent, stage in self.rules:
            match = pattern.search(line)
            if match:
                name = match.group(1) if match.groups() else None
                self._set(percent, stage or f"training {name}")
                return

    def _set(self, percent: int, stage: str) -> None:
        if percent >= self.percent:
            self.percent, self.stage = percent, stage


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


def _fail(job: TrainingJob, cause: str, now: datetime) -> None:
    job.state, job.running_slot, job.error, job.finished_at = FAILED, None, cause, now


def reap_stale(db, now: datetime) -> List[int]:
    """Marks failed every running job on this host whose runner process is gone."""
    reaped = []
    for job in db.execute(select(TrainingJob).where(TrainingJob.state == RUNNING)).scalars():
        if job.host and job.host != socket.gethostname():
            continue
        if job.pid is None:
            if (now - job.started_at).total_seconds() < SPAWN_GRACE_SECONDS:
                continue
            cause = "the training process never started"
        elif _process_alive(job.pid, job.id):
            continue
        else:
            cause = f"the training process (pid {job.pid}) is gone: crashed or killed"
        _fail(job, cause, now)
        reaped.append(job.id)
    db.flush()
    return reaped


def get_job(db, job_id: int, now: datetime) -> TrainingJob:
    reap_stale(db, now)
    job = db.get(TrainingJob, job_id)
    if job is None:
        raise NotFound(f"No training job {job_id}.", code="job_not_found")
    return job


def list_jobs(db, now: datetime, limit: int = 20) -> List[TrainingJob]:
    reap_stale(db, now)
    return list(db.execute(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit))
                .scalars())


def runner_args(job_id: int) -> List[str]:
    return [sys.executable, "-m", "assistant.cli", "model", "run-job", str(job_id)]


def start_training(portal, staff_id: int, *, scale: Optional[float] = None) -> TrainingJob:
    """Claims the one running slot and starts the runner process; a second training while one
    runs raises TrainingRunning and changes nothing."""
    now = portal.clock.now()
    log_dir = portal.settings.var_dir / "training"
    log_dir.mkdir(parents=True, exist_ok=True)
    with portal.sessions() as db:
        reap_stale(db, now)
        db.commit()
        running = db.execute(select(TrainingJob.id).where(TrainingJob.state == RUNNING)
                             ).scalar_one_or_none()
        if running is not None:
            raise TrainingRunning(f"Training job {running} is still running; wait for it "
                                  "or cancel it.", details={"job_id": running})
        job = TrainingJob(state=RUNNING, running_slot=1, progress=0, stage="queued",
                          started_by=staff_id, started_at=now, host=socket.gethostname(),
                          epochs_scale=scale)
        db.add(job)
        try:
            db.flush()
        except IntegrityError:
            db.rollback()
            raise TrainingRunning("Another training started just now; wait for it.")
        job.log_path = str(log_dir / f"job-{job.id}.log")
        record(db, staff_actor(staff_id), "model.train", at=now, object_type="training_job",
               object_id=job.id, detail={"epochs_scale": scale})
        db.commit()
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


def cancel_training(portal, job_id: int, staff_id: int) -> TrainingJob:
    """Stops a running training (its whole process group); the active model is untouched."""
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
        _fail(job, f"cancelled by staff {staff_id}", now)
        record(db, staff_actor(staff_id), "model.train_cancel", at=now,
               object_type="training_job", object_id=job.id)
        db.commit()
        return job


def run_job(portal, job_id: int) -> None:
    """The runner process: builds the training folder, runs `rasa train`, registers the
    candidate. Any failure marks the job failed with its cause."""
    from assistant.model import fingerprint, train_args

    with portal.sessions() as db:
        job = db.get(TrainingJob, job_id)
        if job is None or job.state != RUNNING:
            return
        job.pid = os.getpid()
        job.stage = "preparing data"
        db.commit()
        scale, staff_id, log_path = job.epochs_scale, job.started_by, Path(job.log_path)
    try:
        models_dir = portal.settings.var_dir / "models"
        models_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"training-{job_id}-") as tmp:
            root = Path(tmp)
            with portal.sessions() as db:
                annotated = build_training_root(db, root, scale)
            data_hash = fingerprint(root)
            name = f"candidate-{job_id}-{data_hash}"
            started = time.monotonic()
            code, tail = _run_rasa(portal, job_id, train_args(models_dir, name, root), log_path)
            seconds = time.monotonic() - started
        path = models_dir / f"{name}.tar.gz"
        if code != 0 or not path.exists():
            raise RuntimeError(f"rasa train exited with code {code}: {tail}")
        with portal.sessions() as db:
            job = db.get(TrainingJob, job_id)
            if job.state != RUNNING:  # cancelled meanwhile
                return
            version = ModelVersion(path=str(path), data_hash=data_hash, started_by=staff_id,
                                   created_at=portal.clock.now(), size_bytes=path.stat().st_size,
                                   training_seconds=round(seconds, 1), annotations=annotated)
            db.add(version)
            db.flush()
            job.state, job.running_slot, job.progress, job.stage = SUCCEEDED, None, 100, "done"
            job.finished_at, job.model_version_id = portal.clock.now(), version.id
            db.commit()
    except Exception as exc:  # noqa: BLE001 - the cause is what the admin needs to see
        with portal.sessions() as db:
            job = db.get(TrainingJob, job_id)
            if job.state == RUNNING:
                _fail(job, f"{type(exc).__name__}: {exc}"[:2000], portal.clock.now())
                db.commit()


def _run_rasa(portal, job_id: int, args: List[str], log_path: Path) -> tuple:
    """Runs Rasa, keeping its output in the log and its progress in the job row."""
    parser = ProgressParser()
    last_write = 0.0
    last_lines: List[str] = []
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        buffer = b""
        while True:
            chunk = process.stdout.read1(4096)
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)
            for raw in lines:
                line = raw.decode("utf-8", "replace").strip()
                if line:
                    parser.feed(line)
                    last_lines = (last_lines + [line])[-5:]
            if time.monotonic() - last_write > 1:
                last_write = time.monotonic()
                _report(portal, job_id, parser)
        code = process.wait()
    _report(portal, job_id, parser)
    errors = [line for line in last_lines if "error" in line.lower()] or last_lines
    return code, " | ".join(errors[-2:])


def _report(portal, job_id: int, parser: ProgressParser) -> None:
    with portal.sessions() as db:
        job = db.get(TrainingJob, job_id)
        if job is not None and job.state == RUNNING:
            job.progress, job.stage = parser.percent, parser.stage[:60]
            db.commit()
