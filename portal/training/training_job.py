"""Background training: one `rasa train` at a time, its progress and its candidate version."""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from sqlalchemy import select

from portal.config import PROJECT_ROOT
from portal.errors import Conflict
from portal.models import ModelVersion, TrainingJob
from portal.training.data import build_training_root
from portal.training.jobs import (RUNNING, TRAIN, JobFailed, launch, new_job, queue,
                                  reap_stale, set_progress, succeed)
from portal.training.progress import ProgressParser


class TrainingRunning(Conflict):
    code = "training_running"


def start_training(portal, staff_id: int, *, scale: Optional[float] = None) -> TrainingJob:
    """Claims the one running slot and starts the runner process; a second training while one
    runs raises TrainingRunning and changes nothing."""
    now = portal.clock.now()
    with portal.sessions() as db:
        reap_stale(db, now)
        db.commit()
        running = db.execute(select(TrainingJob.id).where(
            TrainingJob.kind == TRAIN, TrainingJob.state == RUNNING)).scalar_one_or_none()
        if running is not None:
            raise TrainingRunning(f"Training job {running} is still running; wait for it "
                                  "or cancel it.", details={"job_id": running})
        job = new_job(TRAIN, staff_id, now, running_slot=1, epochs_scale=scale)
        if not queue(portal, db, job, "model.train", {"epochs_scale": scale}):
            raise TrainingRunning("Another training started just now; wait for it.")
    return launch(portal, job)


def run_training(portal, job: TrainingJob) -> None:
    """The runner's work: builds the training folder, runs `rasa train`, registers the
    candidate; raises on a failure."""
    from assistant.model import fingerprint, train_args

    set_progress(portal, job.id, 0, "preparing data")
    models_dir = portal.settings.var_dir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"training-{job.id}-") as tmp:
        root = Path(tmp)
        with portal.sessions() as db:
            annotated = build_training_root(db, root, job.epochs_scale)
        data_hash = fingerprint(root)
        name = f"candidate-{job.id}-{data_hash}"
        started = time.monotonic()
        code, tail = _run_rasa(portal, job.id, train_args(models_dir, name, root),
                               Path(job.log_path))
        seconds = time.monotonic() - started
    path = models_dir / f"{name}.tar.gz"
    if code != 0 or not path.exists():
        raise JobFailed(f"rasa train exited with code {code}: {tail}")
    with portal.sessions() as db:
        row = db.get(TrainingJob, job.id)
        if row.state != RUNNING:  # cancelled meanwhile
            return
        version = ModelVersion(path=str(path), data_hash=data_hash, started_by=job.started_by,
                               created_at=portal.clock.now(), size_bytes=path.stat().st_size,
                               training_seconds=round(seconds, 1), annotations=annotated)
        db.add(version)
        db.flush()
        succeed(row, portal.clock.now())
        row.model_version_id = version.id
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
                set_progress(portal, job_id, parser.percent, parser.stage)
        code = process.wait()
    set_progress(portal, job_id, parser.percent, parser.stage)
    errors = [line for line in last_lines if "error" in line.lower()] or last_lines
    return code, " | ".join(errors[-2:])
