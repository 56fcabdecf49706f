"""Rendering the domain's responses in a given language, inside the action server.

Rasa renders a response named by an action with the tracker as it was before the action
ran, so a language chosen during the action (at login) would come too late. Actions render
from the domain the request carries, in the language they decide on.
"""
from __future__ import annotations

import logging
import string
from typing import Any, Dict, List, Optional

log = logging.getLogger(__name__)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _language_of(variation: Dict[str, Any]) -> Optional[str]:
    for condition in variation.get("condition") or []:
        if condition.get("type") == "slot" and condition.get("name") == "language":
            return condition.get("value")
    return None


def pick(domain: Dict[str, Any], name: str, language: str) -> Dict[str, Any]:
    """The variation of a response for a language (bokmål when that language has none)."""
    variations: List[Dict[str, Any]] = (domain.get("responses") or {}).get(name) or []
    if not variations:
        raise KeyError(f"no response {name!r} in the domain")
    by_language = {_language_of(v): v for v in variations}
    return by_language.get(language) or by_language.get("nb") or variations[0]


def render(domain: Dict[str, Any], name: str, language: str, **values: Any) -> Dict[str, Any]:
    """Text (and buttons) of a response with its {placeholders} filled."""
    variation = pick(domain, name, language)
    filler = _Blank({k: "" if v is None else v for k, v in values.items()})
    message: Dict[str, Any] = {
        "text": string.Formatter().vformat(variation.get("text", ""), (), filler)}
    if variation.get("buttons"):
        message["buttons"] = variation["buttons"]
    return message
