"""The admin model bank pages (on the admin blueprint): train and evaluate in the background,
follow the jobs (htmx polling), compare a version with the model in service, activate, roll
back."""
from __future__ import annotations

from collections import deque
from pathlib import Path

from flask import render_template, request
from sqlalchemy import select

from portal.admin.context import rasa_servers
from portal.admin.blueprint import bp, error_text
from portal.api.context import get_db, now, portal
from portal.errors import NotFound, PortalError
from portal.models import ModelActivation, StaffMember, TrainingJob
from portal.privacy import redact_text
from portal.staff.auth import current_staff, error_page, staff_login_required, translate
from portal.training.admin import current_evaluation, swap
from portal.training.data import epochs_scale
from portal.training.evaluation_job import evaluating_versions, evaluation_job, start_evaluation
from portal.training.jobs import (EVALUATE, FAILED, RUNNING, TRAIN, get_job, list_jobs,
                                  reap_stale)
from portal.training.models import ActivationFailed, get_version, list_versions
from portal.training.training_job import start_training

LOG_LINES = 20


def _names(db) -> dict:
    return {m.id: m.name for m in db.execute(select(StaffMember)).scalars()}


def _log_tail(job: TrainingJob) -> str:
    path = Path(job.log_path) if job.log_path else None
    if path is None or not path.exists():
        return ""
    with path.open("rb") as handle:
        lines = deque(handle, maxlen=LOG_LINES * 4)
    # tqdm rewrites one line with carriage returns: keep the newest state of each line
    text = [raw.decode("utf-8", "replace").rstrip("\r\n").split("\r")[-1] for raw in lines]
    return redact_text("\n".join([t for t in text if t.strip()][-LOG_LINES:]))


def _was_active(db) -> set:
    return set(db.execute(select(ModelActivation.version_id).where(
        ModelActivation.ok.is_(True))).scalars())


def _models_page(status: int = 200, **extra):
    db = get_db()
    jobs = list_jobs(db, now(), limit=5, kind=TRAIN)
    db.commit()
    return render_template("staff/admin_models.html", staff=current_staff(),
                           versions=list_versions(db), job=jobs[0] if jobs else None,
                           log=_log_tail(jobs[0]) if jobs else "", names=_names(db),
                           was_active=_was_active(db), evaluating=evaluating_versions(db),
                           **extra), status


@bp.get("/models")
@staff_login_required(role="admin")
def models():
    return _models_page()


@bp.post("/models/train")
@staff_login_required(role="admin")
def train():
    staff_id = current_staff().id
    get_db().commit()  # start_training uses its own sessions: end this request's transaction
    try:
        job = start_training(portal(), staff_id, scale=epochs_scale())
    except PortalError as exc:
        return _models_page(exc.status, error=error_text(exc))
    return _models_page(202, notice=translate("train_started", id=job.id))


def job_end_text(job) -> str:
    """How a finished job ended, in the page's words: its failure or its outcome."""
    if job.state == FAILED:
        return translate(f"job_failed_{job.kind}", error=job.error)
    if job.kind == EVALUATE:
        verdict = "verdict_worse" if job.evaluation and job.evaluation.worse else "verdict_ok"
        return translate("job_done_evaluate", version=job.model_version_id,
                         verdict=translate(verdict))
    return translate("job_done_train", version=job.model_version_id)


@bp.app_template_filter("job_end")
def job_end_filter(job) -> str:
    return job_end_text(job)


def _evaluation_context(db, version_id: int) -> dict:
    """What the comparison page shows of a version: its evaluation against the model
    serving now, and its newest evaluation job with the job log."""
    version = get_version(db, version_id)
    reap_stale(db, now())
    job = evaluation_job(db, version_id)
    views = {v.version.id: v for v in list_versions(db)}
    return {"version": version, "view": views[version.id], "job": job,
            "log": _log_tail(job) if job else "",
            "evaluation": current_evaluation(portal(), db, version_id)}


@bp.get("/jobs/<int:job_id>")
@staff_login_required(role="admin")
def job(job_id: int):
    """A job's status and log, for htmx polling; its end is announced, and an evaluation's
    result replaces the comparison below it."""
    db = get_db()
    try:
        row = get_job(db, job_id, now())
    except NotFound:
        return error_page(404, "error_title", "job_not_found")
    db.commit()
    ended = row.state != RUNNING and request.args.get("seen") == RUNNING
    context = {"job": row, "log": _log_tail(row), "ended": ended,
               "announce": job_end_text(row) if ended else None}
    if ended and row.kind == EVALUATE:
        try:
            context = {**_evaluation_context(db, row.model_version_id), **context}
        except PortalError:  # the version's file went meanwhile: the status says enough
            pass
    return render_template("staff/_job_poll.html", **context)


def _compare_page(version_id: int, status: int = 200, **extra):
    db = get_db()
    try:
        context = _evaluation_context(db, version_id)
    except PortalError as exc:
        return error_page(exc.status, "error_title", "action_failed", message=error_text(exc))
    db.commit()
    return render_template("staff/admin_compare.html", staff=current_staff(),
                           **context, **extra), status


@bp.get("/models/<int:version_id>")
@staff_login_required(role="admin")
def compare(version_id: int):
    return _compare_page(version_id)


@bp.post("/models/<int:version_id>/evaluate")
@staff_login_required(role="admin")
def evaluate(version_id: int):
    """Queues an evaluation (or finds the one running) and shows it on the comparison page."""
    staff_id = current_staff().id
    get_db().commit()  # start_evaluation uses its own sessions: end this request's transaction
    try:
        job, new = start_evaluation(portal(), version_id, staff_id)
    except PortalError as exc:
        return _compare_page(version_id, exc.status, error=error_text(exc))
    notice = translate("evaluation_queued" if new else "evaluation_already_running",
                       id=job.id, version=version_id)
    return _compare_page(version_id, 202 if new else 200, notice=notice)


def _swap(version_id: int, rollback: bool, page):
    db = get_db()
    reason = request.form.get("reason")
    try:
        activation = swap(portal(), db, version_id, current_staff().id, rasa_servers(),
                          reason=reason, rollback=rollback)
    except ActivationFailed as exc:
        db.commit()  # keep the record of the failed attempt
        return page(version_id, exc.status, error=error_text(exc))
    except PortalError as exc:
        db.rollback()
        return page(version_id, exc.status, error=error_text(exc), reason=reason or "")
    db.commit()
    key = "rolled_back" if rollback else "activated"
    return page(version_id, notice=translate(key, id=version_id,
                                             servers=len(activation.servers)))


@bp.post("/models/<int:version_id>/activate")
@staff_login_required(role="admin")
def activate(version_id: int):
    return _swap(version_id, False, _compare_page)


@bp.post("/models/<int:version_id>/rollback")
@staff_login_required(role="admin")
def rollback(version_id: int):
    return _swap(version_id, True, lambda _id, status=200, **extra: _models_page(status, **extra))
