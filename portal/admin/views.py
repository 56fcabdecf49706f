"""The admin training pages: the NLU inbox (annotate with the keyboard) and the model bank
(train, follow the job, evaluate, compare, activate, roll back)."""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Optional
from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import func, select

from portal.admin.context import rasa_servers
from portal.api.context import get_db, now, portal
from portal.errors import NotFound, PortalError
from portal.models import (Conversation, ModelActivation, NluAnnotation, StaffMember,
                           TrainingJob, TranscriptMessage)
from portal.privacy import redact_text
from portal.staff.auth import current_staff, error_page, staff_login_required, translate
from portal.training.admin import current_evaluation, evaluate_version, inbox_filter, swap
from portal.training.annotations import (IGNORE, OUT_OF_SCOPE, InboxFilter, InboxRow, annotate,
                                         domain_intents, inbox, text_key)
from portal.training.data import epochs_scale
from portal.training.jobs import RUNNING, get_job, list_jobs, start_training
from portal.training.models import ActivationFailed, get_version, list_versions

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")

FILTER_KEYS = ("below", "fell_back", "intent", "language", "channel", "since", "until",
               "unannotated")
LOG_LINES = 20


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def error_text(exc: PortalError) -> str:
    """The page's words for a refused action (the service's English message otherwise)."""
    key = "err_" + exc.code
    try:
        return translate(key, **{k: v for k, v in exc.details.items()
                                 if isinstance(v, (int, str))})
    except KeyError:
        return exc.message


# --- NLU inbox ---------------------------------------------------------------------------

def _intents():
    return [i for i in domain_intents() if i != OUT_OF_SCOPE]


def _inbox_row(db, message_id: int) -> Optional[InboxRow]:
    """One inbox row (the group of `message_id`'s text) after it was labelled."""
    message = db.get(TranscriptMessage, message_id)
    if message is None:
        return None
    count = db.execute(select(func.count(TranscriptMessage.id)).where(
        TranscriptMessage.text == message.text, TranscriptMessage.direction == "in",
        TranscriptMessage.author == "citizen")).scalar()
    conversation = db.get(Conversation, message.conversation_id)
    annotation = db.execute(select(NluAnnotation).where(
        NluAnnotation.text_hash == text_key(message.text))).scalar_one_or_none()
    return InboxRow(text=message.text, count=count, message_id=message.id,
                    intent=message.intent,
                    confidence=None if message.confidence is None else float(message.confidence),
                    language=message.language, channel=conversation.channel.value,
                    last_at=message.at,
                    annotation=None if annotation is None else (annotation.intent or IGNORE),
                    held_out=None if annotation is None else annotation.held_out)


def _row_context(row: InboxRow, q: str, error: Optional[str] = None) -> dict:
    return {"row": row, "intents": _intents(), "q": q, "error": error,
            "shown": redact_text(row.text)}


@bp.get("/nlu")
@staff_login_required(role="admin")
def nlu():
    db = get_db()
    error = None
    try:
        filters = inbox_filter(request.args)
    except PortalError as exc:
        error, filters = error_text(exc), InboxFilter()
    page = inbox(db, filters, current_staff().id, now=now())
    db.commit()
    args = {k: request.args.get(k, "") for k in FILTER_KEYS}
    q = urlencode({k: v for k, v in args.items() if v})
    pages = max(1, -(-page.total // page.per_page))
    return render_template("staff/admin_nlu.html", staff=current_staff(), page=page,
                           pages=pages, rows=[_row_context(r, q) for r in page.rows],
                           intents=_intents(), all_intents=domain_intents(), args=args, q=q,
                           error=error), 422 if error else 200


@bp.post("/nlu/<int:message_id>/annotate")
@staff_login_required(role="admin")
def nlu_annotate(message_id: int):
    db = get_db()
    form = request.form
    label = form.get("intent", "") if form.get("correct") else form.get("label", "")
    q = form.get("q", "")
    try:
        annotation = annotate(db, message_id, label, current_staff().id, now=now())
    except PortalError as exc:
        db.rollback()
        row = _inbox_row(db, message_id) if exc.code != "invalid_message_id" else None
        if row is None or not _htmx():
            return error_page(exc.status, "error_title", "annotate_failed_page",
                              message=error_text(exc))
        message = translate("annotate_failed", message=error_text(exc))
        return render_template("staff/_nlu_row.html", **_row_context(row, q, message),
                               announce=message), exc.status
    db.commit()
    if not _htmx():
        return redirect(url_for("admin.nlu") + ("?" + q if q else ""), 303)
    row = _inbox_row(db, message_id)
    shown = redact_text(annotation.text)
    announce = translate("annotated_announce", text=shown[:60], label=_label_text(row.annotation))
    return render_template("staff/_nlu_row.html", **_row_context(row, q), announce=announce)


def _label_text(label: Optional[str]) -> str:
    if label is None:
        return translate("label_none")
    if label == IGNORE:
        return translate("label_ignore")
    if label == OUT_OF_SCOPE:
        return translate("label_out_of_scope")
    return label


@bp.app_template_filter("redact")
def redact_filter(text: str) -> str:
    return redact_text(text or "")


@bp.app_template_filter("label_text")
def label_text_filter(label: Optional[str]) -> str:
    return _label_text(label)


# --- models ------------------------------------------------------------------------------

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
    jobs = list_jobs(db, now(), limit=5)
    db.commit()
    return render_template("staff/admin_models.html", staff=current_staff(),
                           versions=list_versions(db), jobs=jobs,
                           job=jobs[0] if jobs else None,
                           log=_log_tail(jobs[0]) if jobs else "", names=_names(db),
                           was_active=_was_active(db), **extra), status


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


@bp.get("/jobs/<int:job_id>")
@staff_login_required(role="admin")
def job(job_id: int):
    """The job region alone, for htmx polling; the end of a training is announced."""
    db = get_db()
    try:
        row = get_job(db, job_id, now())
    except NotFound:
        return error_page(404, "error_title", "job_not_found")
    db.commit()
    announce = None
    if row.state != RUNNING and request.args.get("seen") == RUNNING:
        announce = (translate("job_failed", error=row.error) if row.state == "failed"
                    else translate("job_done", version=row.model_version_id))
    return render_template("staff/_job.html", job=row, log=_log_tail(row), announce=announce)


def _compare_page(version_id: int, status: int = 200, **extra):
    db = get_db()
    try:
        version = get_version(db, version_id)
    except PortalError as exc:
        return error_page(exc.status, "error_title", "version_not_found")
    views = {v.version.id: v for v in list_versions(db)}
    evaluation = current_evaluation(portal(), db, version_id)
    return render_template("staff/admin_compare.html", staff=current_staff(),
                           version=version, view=views[version.id], evaluation=evaluation,
                           **extra), status


@bp.get("/models/<int:version_id>")
@staff_login_required(role="admin")
def compare(version_id: int):
    return _compare_page(version_id)


@bp.post("/models/<int:version_id>/evaluate")
@staff_login_required(role="admin")
def evaluate(version_id: int):
    db = get_db()
    try:
        evaluate_version(portal(), db, version_id, current_staff().id)
    except PortalError as exc:
        db.rollback()
        return _compare_page(version_id, exc.status, error=error_text(exc))
    db.commit()
    return _compare_page(version_id, notice=translate("evaluated", id=version_id))


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
