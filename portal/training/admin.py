"""What the admin pages, the admin JSON API and the CLI share: parsing inbox filters, the
model a version is judged against, activating and rolling back."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Mapping, Optional, Tuple

from portal.errors import Conflict, InvalidInput
from portal.models import ModelActivation, ModelEvaluation
from portal.training.annotations import InboxFilter
from portal.training.models import activate, active_version, latest_evaluation, serving_path

TRUE = {"1", "true", "on", "yes"}


def _number(args: Mapping[str, str], name: str, kind, default=None):
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number.", code=f"bad_{name}") from None


def _date(args: Mapping[str, str], name: str, end_of_day: bool = False
          ) -> Optional[datetime]:
    """An ISO date-time (UTC unless given), or a date: its start, or with `end_of_day` its
    last moment, so that `until=2026-11-24` includes that day."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO date or date-time.",
                           code=f"bad_{name}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if end_of_day and len(raw) == 10:
        value += timedelta(days=1, microseconds=-1)
    return value


def inbox_filter(args: Mapping[str, str], per_page: int = 50) -> InboxFilter:
    """The inbox filters from query parameters (below, fell_back, intent, language, channel,
    since, until, unannotated, page, per_page); a bad value raises InvalidInput."""
    filters = InboxFilter(
        below=_number(args, "below", float),
        fell_back=str(args.get("fell_back") or "").lower() in TRUE,
        intent=(args.get("intent") or "").strip() or None,
        language=(args.get("language") or "").strip() or None,
        channel=(args.get("channel") or "").strip() or None,
        since=_date(args, "since"), until=_date(args, "until", end_of_day=True),
        unannotated=str(args.get("unannotated") or "").lower() in TRUE,
        page=_number(args, "page", int, 1), per_page=_number(args, "per_page", int, per_page))
    filters.check()
    return filters


def startup_model(portal) -> Optional[Path]:
    """The model the Rasa servers start with when no version is active (var/models)."""
    from assistant.model import model_path

    path = model_path(portal.settings.var_dir / "models")
    return path if path.exists() else None


def baseline(portal, db) -> Tuple[str, Optional[int]]:
    """What a candidate is judged against: the model serving now (its file, its version id
    when it is in the bank); none known raises Conflict `no_baseline`."""
    active = active_version(db)
    return serving_path(db, startup_model(portal)), active.id if active else None


def current_evaluation(portal, db, version_id: int) -> Optional[ModelEvaluation]:
    """The newest evaluation of a version against the model serving now, if any."""
    try:
        serving = serving_path(db, startup_model(portal))
    except Conflict:  # no baseline known: nothing to compare with
        return None
    return latest_evaluation(db, version_id, serving)


def swap(portal, db, version_id: int, staff_id: int, servers, *, reason: Optional[str] = None,
         rollback: bool = False) -> ModelActivation:
    """Activates (or rolls back to) a version on every Rasa server; the gates of
    portal/training/models.py activate apply."""
    return activate(db, version_id, staff_id, servers, now=portal.clock.now(),
                    startup_model=startup_model(portal), reason=reason, rollback=rollback)


def rasa_servers():
    """Every Rasa server of this deployment, with the Rasa API token of this process."""
    from assistant.rasa_servers import RasaServers, server_urls
    from assistant.runtime import Runtime

    return RasaServers(server_urls(), Runtime.from_env().rasa_auth_token)
