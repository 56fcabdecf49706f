"""Per-request helpers of the admin blueprints: the Rasa servers to swap models on."""
from __future__ import annotations

from flask import current_app

from portal.training.admin import rasa_servers as default_servers


def rasa_servers():
    """`app.extensions["rasa_servers"]` (a factory) when set, else RASA_URLS/RASA_PORT."""
    factory = current_app.extensions.get("rasa_servers", default_servers)
    return factory()
