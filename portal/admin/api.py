"""The admin JSON API (admin staff tokens): NLU inbox and annotations, training and evaluation
jobs, the model bank, activation and rollback."""
from __future__ import annotations

from pathlib import Path

from apifairy import arguments, body, other_responses, response
from flask import Blueprint

from portal.admin.context import rasa_servers
from portal.admin.schemas import (ActivateSchema, ActivationSchema, AnnotateSchema,
                                  AnnotationSchema, InboxQuerySchema, InboxSchema, JobSchema,
                                  VersionListSchema)
from portal.api.context import get_db, now, portal
from portal.api.schemas import ErrorSchema
from portal.privacy import redact_text
from portal.staff.auth import current_staff, staff_token_required
from portal.training.admin import inbox_filter, swap
from portal.training.annotations import IGNORE, OUT_OF_SCOPE, annotate, inbox
from portal.training.data import epochs_scale
from portal.training.evaluation_job import start_evaluation
from portal.training.jobs import get_job
from portal.training.training_job import start_training
from portal.training.models import ActivationFailed, list_versions, rollback_target

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin")

AUTH = {401: (ErrorSchema, "No valid staff API token"),
        403: (ErrorSchema, "The token's staff member is not an admin")}


def version_json(view) -> dict:
    v = view.version
    return {"id": v.id, "file": Path(v.path).name, "data_hash": v.data_hash,
            "started_by": v.started_by, "created_at": v.created_at,
            "size_bytes": v.size_bytes, "training_seconds": v.training_seconds,
            "annotations": v.annotations, "active": view.active,
            "evaluation": view.evaluation}


@bp.get("/nlu/inbox")
@staff_token_required(role="admin")
@arguments(InboxQuerySchema)
@response(InboxSchema)
@other_responses({**AUTH, 422: (ErrorSchema, "A bad filter value")})
def nlu_inbox(args):
    """Citizen messages (redacted) with the predicted intent and confidence, identical texts
    grouped with a count, newest first"""
    filters = inbox_filter({k: str(v) for k, v in args.items()})
    page = inbox(get_db(), filters, current_staff().id, now=now())
    get_db().commit()
    rows = [{**row.__dict__, "text": redact_text(row.text)} for row in page.rows]
    return {"rows": rows, "total": page.total, "page": page.page, "per_page": page.per_page}


@bp.post("/nlu/inbox/<int:message_id>/annotate")
@staff_token_required(role="admin")
@body(AnnotateSchema)
@response(AnnotationSchema)
@other_responses({**AUTH, 404: (ErrorSchema, "No such citizen message"),
                  422: (ErrorSchema, "Unknown intent or not exactly one label")})
def nlu_annotate(payload, message_id: int):
    """Label a message (and every identical text) with an intent, out of scope or ignore"""
    label = (IGNORE if payload.get("ignore") else OUT_OF_SCOPE if payload.get("out_of_scope")
             else payload["intent"])
    row = annotate(get_db(), message_id, label, current_staff().id, now=now())
    get_db().commit()
    return {"message_id": message_id, "text": redact_text(row.text),
            "label": row.intent or IGNORE, "held_out": row.held_out, "at": row.at}


@bp.post("/models/train")
@staff_token_required(role="admin")
@response(JobSchema, 202)
@other_responses({**AUTH, 409: (ErrorSchema, "A training is running already "
                                             "(code training_running)")})
def train():
    """Start training a candidate in the background (one at a time)"""
    staff_id = current_staff().id
    get_db().commit()  # start_training uses its own sessions: end this request's transaction
    return start_training(portal(), staff_id, scale=epochs_scale()), 202


@bp.get("/jobs/<int:job_id>")
@staff_token_required(role="admin")
@response(JobSchema)
@other_responses({**AUTH, 404: (ErrorSchema, "No such job")})
def job(job_id: int):
    """A job's state, progress, stage and failure cause; an evaluation job's result once it
    succeeded"""
    row = get_job(get_db(), job_id, now())
    get_db().commit()
    return row


@bp.get("/models")
@staff_token_required(role="admin")
@response(VersionListSchema)
@other_responses(AUTH)
def models():
    """The model bank, newest first, each version with its newest evaluation"""
    return {"versions": [version_json(v) for v in list_versions(get_db())]}


@bp.post("/models/<int:version_id>/evaluate")
@staff_token_required(role="admin")
@response(JobSchema, 202, description="The evaluation job, queued")
@other_responses({**AUTH, 200: (JobSchema, "An evaluation of this version is queued or "
                                           "running already: that job"),
                  404: (ErrorSchema, "No such version"),
                  409: (ErrorSchema, "Its file is gone, or no serving model is known")})
def evaluate_model(version_id: int):
    """Queue an evaluation of a version against the model now serving (held-out set and
    conversation tests, in the background; follow it at the job's link)"""
    staff_id = current_staff().id
    get_db().commit()  # start_evaluation uses its own sessions: end this request's transaction
    job, new = start_evaluation(portal(), version_id, staff_id)
    return job, 202 if new else 200


def _swap(version_id: int, reason, rollback: bool):
    db = get_db()
    try:
        activation = swap(portal(), db, version_id, current_staff().id, rasa_servers(),
                          reason=reason, rollback=rollback)
    except ActivationFailed:
        db.commit()  # keep the record of the failed attempt
        raise
    db.commit()
    return activation


@bp.post("/models/<int:version_id>/activate")
@staff_token_required(role="admin")
@body(ActivateSchema)
@response(ActivationSchema)
@other_responses({**AUTH, 404: (ErrorSchema, "No such version"),
                  409: (ErrorSchema, "Not evaluated against the serving model "
                                     "(evaluation_required) or its file is gone"),
                  422: (ErrorSchema, "Worse than the active model: a reason is required "
                                     "(reason_required)"),
                  502: (ErrorSchema, "A Rasa server failed; every server was put back")})
def activate_version(payload, version_id: int):
    """Swap a version in on every Rasa server"""
    return _swap(version_id, payload.get("reason"), rollback=False)


@bp.post("/models/<int:version_id>/rollback")
@staff_token_required(role="admin")
@response(ActivationSchema)
@other_responses({**AUTH, 404: (ErrorSchema, "No such version"),
                  409: (ErrorSchema, "The version was never active (never_active)"),
                  502: (ErrorSchema, "A Rasa server failed; every server was put back")})
def rollback_version(version_id: int):
    """Put an earlier active version back in service (no evaluation needed)"""
    return _swap(version_id, None, rollback=True)


@bp.post("/models/rollback")
@staff_token_required(role="admin")
@response(ActivationSchema)
@other_responses({**AUTH, 409: (ErrorSchema, "Nothing to roll back to")})
def rollback_previous():
    """Put the version active before the current one back in service"""
    return _swap(rollback_target(get_db()).id, None, rollback=True)
