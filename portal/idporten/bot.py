"""Tells the bot a citizen logged in outside the conversation (its slots, over Rasa's API)."""
from __future__ import annotations

import logging
import os
from typing import Mapping

import requests

log = logging.getLogger(__name__)


def tell_bot_logged_in(conversation_id: str, first_name: str, language: str,
                       env: Mapping[str, str] = os.environ) -> bool:
    """Sets the login slots on the conversation's tracker; False if no Rasa server took them.

    The portal still decides on every request (the session); the slots only spare the
    citizen being asked to log in again.
    """
    token = env.get("RASA_AUTH_TOKEN") or ""
    events = [{"event": "slot", "name": "logged_in", "value": True},
              {"event": "slot", "name": "first_name", "value": first_name},
              {"event": "slot", "name": "language", "value": language},
              {"event": "slot", "name": "login_step", "value": None}]
    for url in [u.strip() for u in (env.get("RASA_URLS") or "").split(",") if u.strip()]:
        try:
            response = requests.post(
                f"{url}/conversations/{conversation_id}/tracker/events",
                params={"include_events": "NONE"}, json=events, timeout=10,
                headers={"Authorization": f"Bearer {token}"})
            if response.ok:
                return True
            log.warning("Rasa at %s refused the login slots: %s", url, response.status_code)
        except requests.RequestException as exc:
            log.warning("Rasa at %s not reached for the login slots: %s", url, exc)
    return False
