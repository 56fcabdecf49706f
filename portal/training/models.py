"""The model bank: versions, the active one, activation on every Rasa server, rollback."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from sqlalchemy import select

from portal.errors import Conflict, InvalidInput, NotFound, PortalError
from portal.models import ModelActivation, ModelEvaluation, ModelVersion
from portal.services.audit import record
from portal.training.annotations import staff_actor


class ActivationFailed(PortalError):
    status = 502
    code = "activation_failed"


@dataclass(frozen=True)
class VersionView:
    version: ModelVersion
    active: bool
    evaluation: Optional[ModelEvaluation]  # the newest one


def active_version(db) -> Optional[ModelVersion]:
    """The version of the newest successful activation (None: the fingerprint model)."""
    activation = db.execute(select(ModelActivation).where(ModelActivation.ok.is_(True))
                            .order_by(ModelActivation.id.desc()).limit(1)).scalar_one_or_none()
    return None if activation is None else db.get(ModelVersion, activation.version_id)


def active_model_path(db) -> Optional[Path]:
    """What `assistant up` serves: the active version's file, when set and still there."""
    version = active_version(db)
    if version is None or not Path(version.path).exists():
        return None
    return Path(version.path)


def list_versions(db) -> List[VersionView]:
    active = active_version(db)
    views = []
    for version in db.execute(select(ModelVersion).order_by(ModelVersion.id.desc())).scalars():
        views.append(VersionView(version, active is not None and active.id == version.id,
                                 latest_evaluation(db, version.id)))
    return views


def get_version(db, version_id: int) -> ModelVersion:
    version = db.get(ModelVersion, version_id) if isinstance(version_id, int) else None
    if version is None:
        raise NotFound(f"No model version {version_id}.", code="version_not_found")
    if not Path(version.path).exists():
        raise Conflict(f"The file of model version {version_id} is gone: {version.path}",
                       code="model_file_missing")
    return version


def latest_evaluation(db, version_id: int, baseline_path: Optional[str] = None
                      ) -> Optional[ModelEvaluation]:
    query = select(ModelEvaluation).where(ModelEvaluation.candidate_id == version_id)
    if baseline_path is not None:
        query = query.where(ModelEvaluation.baseline_path == baseline_path)
    return db.execute(query.order_by(ModelEvaluation.id.desc()).limit(1)).scalar_one_or_none()


def serving_path(db, fallback: Optional[Path]) -> str:
    """The model the deployment serves now: the active version, else the fingerprint model."""
    version = active_version(db)
    if version is not None:
        return version.path
    if fallback is None:
        raise Conflict("No active version and no start-up model known.", code="no_baseline")
    return str(fallback)


def activate(db, version_id: int, staff_id: int, servers, *, now,
             startup_model: Optional[Path] = None, reason: Optional[str] = None,
             rollback: bool = False) -> ModelActivation:
    """Swaps `version_id` in on every Rasa server. A candidate must have been evaluated
    against the model now serving; a worse one needs a typed reason. A failed swap is rolled
    back on every server, recorded, and raises ActivationFailed (commit first to keep the
    record). `rollback` re-activates an earlier active version without an evaluation."""
    version = get_version(db, version_id)
    if active_version(db) is None and startup_model is not None:
        _adopt_startup_model(db, startup_model, now)
    previous = serving_path(db, startup_model)
    reason = (reason or "").strip() or None
    evaluation = None
    if rollback:
        was_active = db.execute(select(ModelActivation.id).where(
            ModelActivation.version_id == version.id, ModelActivation.ok.is_(True)).limit(1)
        ).scalar_one_or_none()
        if was_active is None:
            raise Conflict(f"Version {version_id} was never active; activate it instead.",
                           code="never_active")
    else:
        evaluation = latest_evaluation(db, version.id, previous)
        if evaluation is None and version.path != previous:
            raise Conflict(f"Version {version_id} has not been evaluated against the model "
                           "now serving; evaluate it first.", code="evaluation_required")
        if evaluation is not None and evaluation.worse and not reason:
            raise InvalidInput(
                f"Version {version_id} is worse than the active model (macro-F1 "
                f"{evaluation.candidate_macro_f1} vs {evaluation.baseline_macro_f1}, "
                f"{evaluation.candidate_failed_tests} failing conversation test(s)): give a "
                "reason to activate it anyway.", code="reason_required")
    result = servers.swap(version.path, previous)
    activation = ModelActivation(version_id=version.id, at=now, staff_id=staff_id, ok=result.ok,
                                 reason=reason, servers=result.servers,
                                 seconds=round(result.seconds, 3))
    db.add(activation)
    db.flush()
    record(db, staff_actor(staff_id), "model.rollback" if rollback else "model.activate",
           at=now, object_type="model_version", object_id=version.id,
           detail={"ok": result.ok, "reason": reason, "previous": previous,
                   "worse": bool(evaluation and evaluation.worse),
                   "servers": [s["url"] for s in result.servers], "error": result.error})
    if not result.ok:
        raise ActivationFailed(f"Activation of version {version_id} failed on {result.error}; "
                               f"every server was put back on {Path(previous).name}.",
                               details={"activation_id": activation.id})
    return activation


def _adopt_startup_model(db, path: Path, now) -> ModelVersion:
    """Puts the model the servers started with into the bank as the active version, so that
    a rollback can return to it."""
    version = db.execute(select(ModelVersion).where(ModelVersion.path == str(path))
                         ).scalar_one_or_none()
    if version is None:
        name = path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.name
        version = ModelVersion(path=str(path), data_hash=name.rsplit("-", 1)[-1][:64],
                               created_at=now, size_bytes=path.stat().st_size, annotations=0)
        db.add(version)
        db.flush()
    db.add(ModelActivation(version_id=version.id, at=now, staff_id=None, ok=True,
                           reason="the model the servers started with", servers=[]))
    db.flush()
    return version


def rollback_target(db) -> ModelVersion:
    """The version that was active before the current one."""
    rows = db.execute(select(ModelActivation).where(ModelActivation.ok.is_(True))
                      .order_by(ModelActivation.id.desc())).scalars().all()
    current = rows[0].version_id if rows else None
    for row in rows:
        if row.version_id != current:
            return db.get(ModelVersion, row.version_id)
    raise Conflict("There is no earlier version to roll back to.", code="nothing_to_roll_back")
