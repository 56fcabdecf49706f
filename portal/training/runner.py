"""The runner process of one background job (`assistant model run-job N`): runs the job by
its kind; a failure is recorded on the job in words for the admin, in full in the job log."""
from __future__ import annotations

import traceback

from portal.errors import PortalError
from portal.models import TrainingJob
from portal.training.evaluation_job import run_evaluation
from portal.training.jobs import EVALUATE, NOUNS, TRAIN, JobFailed, claim, record_failure
from portal.training.training_job import run_training

RUNS = {TRAIN: run_training, EVALUATE: run_evaluation}


def failure_text(job: TrainingJob, exc: Exception) -> str:
    """What the admin is shown: the failure's own words, or that it was unexpected."""
    if isinstance(exc, PortalError):
        return exc.message
    if isinstance(exc, JobFailed):
        return str(exc)
    detail = f"{type(exc).__name__}: {exc}"[:300]
    return (f"The {NOUNS[job.kind]} stopped on an unexpected error ({detail}); the job log "
            "has the details.")


def run_job(portal, job_id: int) -> None:
    """Runs a queued job; any failure marks it failed with its cause."""
    job = claim(portal, job_id)
    if job is None:
        return
    print(f"{NOUNS[job.kind].capitalize()} job {job_id} started (runner pid {job.pid}).",
          flush=True)  # the runner's output is the job log
    try:
        RUNS[job.kind](portal, job)
    except Exception as exc:  # noqa: BLE001 - the cause is what the admin needs to see
        traceback.print_exc()
        cause = failure_text(job, exc)
        print(f"{NOUNS[job.kind].capitalize()} job {job_id} failed: {cause}", flush=True)
        record_failure(portal, job_id, cause)
