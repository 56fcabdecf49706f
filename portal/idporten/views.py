"""/idporten/login starts an ID-porten login for a web chat conversation; /callback ends it."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request

from portal.conversations import service as conversations
from portal.idporten import service
from portal.idporten.texts import language_of, text
from portal.models import Channel

log = logging.getLogger(__name__)
bp = Blueprint("idporten", __name__, url_prefix="/idporten")


def _portal():
    return current_app.extensions["portal"]


def _page(key: str, language: str, status: int):
    settings = _portal().settings
    return render_template("idporten/result.html", lang=language, title=text("title", language),
                           message=text(key, language), back=text("back", language),
                           back_url=settings.webchat_url), status


@bp.get("/login")
def login():
    portal = _portal()
    language = language_of(request.args.get("lang"))
    if not portal.settings.idporten_configured:
        return _page("not_configured", language, 404)
    try:
        url = service.begin(portal.store, portal.settings, request.args.get("ticket"), language)
    except service.LoginRefused as refused:
        log.info("ID-porten login not started: %s", refused)
        return _page(refused.reason, language, 503 if refused.reason == "unavailable" else 400)
    return redirect(url, code=303)


@bp.get("/callback")
def callback():
    portal = _portal()
    if not portal.settings.idporten_configured:
        return _page("not_configured", "nb", 404)
    now = portal.clock.now()
    with portal.sessions() as db:
        if request.args.get("error"):  # the citizen cancelled, or ID-porten refused
            kept = service.take_state(portal.store, request.args.get("state"))
            language = language_of((kept or {}).get("language"))
            service.refuse_audit(db, "cancelled", now)
            return _page("cancelled", language, 400)
        try:
            done = service.finish(db, portal.store, portal.settings,
                                  code=request.args.get("code"),
                                  state=request.args.get("state"), now=now)
        except service.LoginRefused as refused:
            db.rollback()
            log.warning("ID-porten login refused: %s", refused)
            service.refuse_audit(db, refused.reason, now)
            return _page(refused.reason, refused.language,
                         503 if refused.reason == "unavailable" else 400)
        first_name = done.citizen.name.split()[0]
        conversation = conversations.open_conversation(
            db, Channel.WEBCHAT, done.conversation_id, now, language=done.language)
        conversation.citizen_id = done.citizen.id
        conversations.announce(db, portal.settings, conversation,
                               text("logged_in", done.language, first_name=first_name), now)
        db.commit()
    return redirect(portal.settings.webchat_url, code=303)
