"""The admin training pages' blueprint and the NLU inbox (annotate with the keyboard); the
model bank pages are in model_pages.py, on the same blueprint (blueprint.py)."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlencode

from flask import redirect, render_template, request, url_for
from sqlalchemy import func, select

from portal.admin.blueprint import bp, error_text
from portal.api.context import get_db, now
from portal.errors import PortalError
from portal.models import Conversation, NluAnnotation, TranscriptMessage
from portal.privacy import redact_text
from portal.staff.auth import (current_staff, error_page, is_htmx, staff_login_required,
                               translate)
from portal.training.admin import inbox_filter
from portal.training.annotations import (IGNORE, OUT_OF_SCOPE, InboxFilter, InboxRow, annotate,
                                         domain_intents, inbox, text_key)

FILTER_KEYS = ("below", "fell_back", "intent", "language", "channel", "since", "until",
               "unannotated")


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
        if row is None or not is_htmx():
            return error_page(exc.status, "error_title", "annotate_failed_page",
                              message=error_text(exc))
        message = translate("annotate_failed", message=error_text(exc))
        return render_template("staff/_nlu_row.html", **_row_context(row, q, message),
                               announce=message), exc.status
    db.commit()
    if not is_htmx():
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
