"""Evaluation as a background job: one queued or running per version, run by the job runner,
its result stored where the activation gate and the comparison page read it."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Set, Tuple

from sqlalchemy import select

from portal.errors import Conflict
from portal.models import TrainingJob
from portal.training.admin import baseline
from portal.training.evaluation import plan, run_tests, store
from portal.training.jobs import (EVALUATE, RUNNING, launch, new_job, queue, reap_stale,
                                  set_progress, succeed)
from portal.training.models import get_version


def evaluation_job(db, version_id: int) -> Optional[TrainingJob]:
    """The newest evaluation job of a version, in any state."""
    return db.execute(select(TrainingJob).where(
        TrainingJob.kind == EVALUATE, TrainingJob.model_version_id == version_id)
        .order_by(TrainingJob.id.desc()).limit(1)).scalars().first()


def evaluating_versions(db) -> Set[int]:
    """The versions with an evaluation queued or running."""
    return set(db.execute(select(TrainingJob.model_version_id).where(
        TrainingJob.kind == EVALUATE, TrainingJob.state == RUNNING)).scalars())


def _running(db, version_id: int) -> Optional[TrainingJob]:
    job = evaluation_job(db, version_id)
    return job if job is not None and job.state == RUNNING else None


def start_evaluation(portal, version_id: int, staff_id: int) -> Tuple[TrainingJob, bool]:
    """Queues an evaluation of a version against the model serving now and starts its runner;
    while one is queued or running for that version, returns that one instead. Returns the
    job and whether it is new. An unknown version raises NotFound, a version whose file is
    gone or no known serving model raises Conflict."""
    now = portal.clock.now()
    with portal.sessions() as db:
        reap_stale(db, now)
        db.commit()
        get_version(db, version_id)
        baseline(portal, db)
        running = _running(db, version_id)
        if running is not None:
            return running, False
        job = new_job(EVALUATE, staff_id, now, evaluation_slot=version_id,
                      model_version_id=version_id)
        if not queue(portal, db, job, "model.evaluate_queued",
                     {"model_version_id": version_id}):
            running = _running(db, version_id)  # a second click that came in just before
            if running is None:
                raise Conflict(f"Another evaluation of version {version_id} just ended; "
                               "look at its result.", code="evaluation_running")
            return running, False
    return launch(portal, job), True


def run_evaluation(portal, job: TrainingJob) -> None:
    """The runner's work: the held-out set, Rasa's tests, the stored comparison; raises on
    a failure."""
    set_progress(portal, job.id, 5, "preparing the held-out set")
    work_dir = portal.settings.var_dir / "evaluations" / f"job-{job.id}"
    with portal.sessions() as db:
        serving, serving_id = baseline(portal, db)
        steps = plan(db, job.model_version_id, serving, serving_id, work_dir)
        db.rollback()  # only read: no transaction stays open while Rasa runs
    print(f"Evaluating model version {steps.candidate_id} ({Path(steps.candidate_path).name}) "
          f"against the model in service ({Path(serving).name}); held-out set: "
          f"{steps.heldout_size} message(s); work folder {work_dir}", flush=True)
    set_progress(portal, job.id, 10, "running Rasa's tests")
    codes = run_tests(steps, Path(job.log_path), lambda done, total: set_progress(
        portal, job.id, 10 + 80 * done // total, f"Rasa's tests: {done} of {total} done"))
    with portal.sessions() as db:
        row = db.get(TrainingJob, job.id)
        if row.state != RUNNING:  # cancelled meanwhile
            return
        evaluation = store(db, steps, codes, job.started_by, portal.clock.now())
        succeed(row, portal.clock.now())
        row.evaluation_id = evaluation.id
        db.commit()
    print(f"Stored evaluation {evaluation.id}: macro-F1 {evaluation.candidate_macro_f1} "
          f"(candidate) vs {evaluation.baseline_macro_f1} (in service), "
          f"{evaluation.candidate_failed_tests} failing conversation test(s); "
          f"{'worse' if evaluation.worse else 'not worse'}.", flush=True)
