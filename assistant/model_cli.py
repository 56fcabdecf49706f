"""`assistant model …` and `assistant nlu-export`: the training loop from the command line."""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import click

STAFF = click.option("--staff-id", type=int, required=True, envvar="ASSISTANT_STAFF_ID",
                     help="Your staff id, for the audit log (env ASSISTANT_STAFF_ID).")


def _portal():
    from portal.bootstrap import Portal
    from portal.migrate import upgrade

    portal = Portal.from_env()
    upgrade(portal.engine)
    return portal


def _servers(urls: List[str]):
    from assistant.rasa_servers import RasaServers, server_urls
    from assistant.runtime import Runtime

    runtime = Runtime.from_env()
    return RasaServers(list(urls) or server_urls(), runtime.rasa_auth_token)


def _startup_model(portal) -> Optional[Path]:
    from portal.training.admin import startup_model

    return startup_model(portal)


def _fail(exc) -> None:
    raise click.ClickException(f"{exc.message} [{exc.code}]")


@click.command("nlu-export")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="File to write (default data/nlu/annotated.yml).")
def nlu_export(out: Optional[str]) -> None:
    """Write the accepted (not held-out) annotations as Rasa YAML under data/nlu/."""
    from portal.training.data import ANNOTATED_FILE, export_annotations
    from portal.config import PROJECT_ROOT

    path = Path(out) if out else PROJECT_ROOT / ANNOTATED_FILE
    portal = _portal()
    with portal.sessions() as db:
        count = export_annotations(db, path)
    click.echo(f"{count} annotated example(s) written to {path}.")


@click.group()
def model() -> None:
    """Model bank: list, train, evaluate, activate and roll back bot models."""


@model.command("list")
def list_() -> None:
    """Every model version, the active one marked, with its newest evaluation."""
    from portal.training.jobs import list_jobs
    from portal.training.models import list_versions

    portal = _portal()
    with portal.sessions() as db:
        click.echo(f"{'':1} {'id':>4} {'created (UTC)':<17} {'size':>7} {'train s':>8} "
                   f"{'annot':>5} {'macro-F1':>15} {'tests':>5}  file")
        for view in list_versions(db):
            v, e = view.version, view.evaluation
            f1 = (f"{e.candidate_macro_f1 or 0:.3f}/{e.baseline_macro_f1 or 0:.3f}"
                  if e and e.candidate_macro_f1 is not None else "-")
            click.echo(f"{'*' if view.active else ' '} {v.id:>4} "
                       f"{v.created_at:%Y-%m-%d %H:%M} {v.size_bytes / 1e6:>6.1f}M "
                       f"{v.training_seconds or 0:>8.0f} {v.annotations:>5} {f1:>15} "
                       f"{e.candidate_failed_tests if e else '-':>5}  {Path(v.path).name}")
        for job in list_jobs(db, portal.clock.now(), limit=5):
            click.echo(f"job {job.id} ({job.kind}): {job.state} {job.progress}% {job.stage or ''}"
                       + (f" - {job.error}" if job.error else ""))
        db.commit()


def _follow(portal, job):
    """Prints a job's progress until it ends; a failed job fails the command."""
    from portal.training.jobs import NOUNS, RUNNING, SUCCEEDED, get_job

    shown = None
    while True:
        with portal.sessions() as db:
            job = get_job(db, job.id, portal.clock.now())
            db.commit()
        if (job.progress, job.stage) != shown:
            shown = (job.progress, job.stage)
            click.echo(f"  {job.progress:>3}% {job.stage or ''}")
        if job.state != RUNNING:
            break
        time.sleep(1)
    if job.state != SUCCEEDED:
        raise click.ClickException(f"{NOUNS[job.kind].capitalize()} job {job.id} failed: "
                                   f"{job.error}")
    return job


DETACH = click.option("--detach", is_flag=True, help="Start it and return at once.")


@model.command()
@STAFF
@DETACH
def train(staff_id: int, detach: bool) -> None:
    """Train a candidate in the background on data/ plus the accepted annotations."""
    from portal.errors import PortalError
    from portal.training.data import epochs_scale
    from portal.training.training_job import start_training

    portal = _portal()
    try:
        job = start_training(portal, staff_id, scale=epochs_scale())
    except PortalError as exc:
        _fail(exc)
    click.echo(f"Training job {job.id} started; log: {job.log_path}")
    if detach:
        return
    job = _follow(portal, job)
    click.echo(f"Candidate: model version {job.model_version_id}")


@model.command("run-job", hidden=True)
@click.argument("job_id", type=int)
def run_job(job_id: int) -> None:
    """The background runner of one job (started by `model train` and `model evaluate`)."""
    from portal.training.runner import run_job as run

    run(_portal(), job_id)


@model.command()
@STAFF
@click.argument("job_id", type=int)
def cancel(staff_id: int, job_id: int) -> None:
    """Stop a running training or evaluation."""
    from portal.errors import PortalError
    from portal.training.jobs import cancel_job

    try:
        cancel_job(_portal(), job_id, staff_id)
    except PortalError as exc:
        _fail(exc)
    click.echo(f"Job {job_id} cancelled.")


def _evaluate(portal, version_id: int, staff_id: int, detach: bool = False):
    """Queues an evaluation job (or joins the one running for the version) and, unless
    detached, follows it to its result."""
    from portal.errors import PortalError
    from portal.training.evaluation_job import start_evaluation

    try:
        job, new = start_evaluation(portal, version_id, staff_id)
    except PortalError as exc:
        _fail(exc)
    click.echo(f"Evaluation job {job.id} {'queued' if new else 'already running'} for "
               f"version {version_id}; log: {job.log_path}")
    if detach:
        return None
    return _follow(portal, job).evaluation


def show_evaluation(e) -> None:
    cand, base = e.report["candidate"], e.report["baseline"]
    click.echo(f"Held-out set: {e.heldout_size} message(s)")
    click.echo(f"{'intent':<24} {'candidate P/R/F1':>20} {'active P/R/F1':>20}")
    for intent, c in (cand.get("per_intent") or {}).items():
        b = (base.get("per_intent") or {}).get(intent, {})
        fmt = lambda r: (f"{r.get('precision', 0):.2f}/{r.get('recall', 0):.2f}/"  # noqa: E731
                         f"{r.get('f1', 0):.2f}") if r else "-"
        click.echo(f"{intent:<24} {fmt(c):>20} {fmt(b):>20}")
    num = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    click.echo(f"{'macro-F1':<24} {num(cand.get('macro_f1')):>20} {num(base.get('macro_f1')):>20}")
    click.echo(f"{'out-of-scope rejection':<24} {num(cand.get('out_of_scope_rejection')):>20} "
               f"{num(base.get('out_of_scope_rejection')):>20}")
    for change in e.report["changed"]:
        click.echo(f"  changed: {change['text']!r} ({change['expected']}): "
                   f"{change['before']} -> {change['after']}")
    for name in e.report["failing_conversation_tests"]:
        click.echo(f"  FAILING conversation test: {name}")
    click.echo("Verdict: " + ("WORSE than the active model" if e.worse else "not worse"))


@model.command()
@STAFF
@DETACH
@click.argument("version_id", type=int)
def evaluate(staff_id: int, detach: bool, version_id: int) -> None:
    """Judge a candidate against the active model (held-out set, conversation tests) as a
    background job, like the admin pages do; waits for it and prints the comparison unless
    --detach. A second call while one runs for the version follows that one."""
    evaluation = _evaluate(_portal(), version_id, staff_id, detach)
    if evaluation is not None:
        show_evaluation(evaluation)


def _swap(version_id: int, staff_id: int, reason: Optional[str], urls, rollback: bool) -> None:
    from portal.errors import PortalError
    from portal.training.models import ActivationFailed, activate, get_version, \
        latest_evaluation, serving_path

    portal = _portal()
    servers = _servers(urls)
    with portal.sessions() as db:
        try:
            get_version(db, version_id)
            if not rollback:
                baseline = serving_path(db, _startup_model(portal))
                if latest_evaluation(db, version_id, baseline) is None:
                    click.echo("Evaluating first …")
                    db.rollback()  # the evaluation job writes from its own process
                    show_evaluation(_evaluate(portal, version_id, staff_id))
            activation = activate(db, version_id, staff_id, servers, now=portal.clock.now(),
                                  startup_model=_startup_model(portal), reason=reason,
                                  rollback=rollback)
        except ActivationFailed as exc:
            db.commit()  # keep the record of the failed attempt
            _fail(exc)
        except PortalError as exc:
            _fail(exc)
        db.commit()
    click.echo(f"Version {version_id} is active on {len(servers.urls)} Rasa server(s) "
               f"(swap took {activation.seconds:.1f} s).")


@model.command()
@STAFF
@click.argument("version_id", type=int)
@click.option("--reason", help="Required when the candidate is worse than the active model.")
@click.option("--rasa-url", "urls", multiple=True,
              help="A Rasa server (repeatable; default RASA_URLS or RASA_PORT/RASA_INSTANCES).")
def activate(staff_id: int, version_id: int, reason: Optional[str], urls) -> None:
    """Swap a candidate in on every Rasa server (evaluating it first if needed)."""
    _swap(version_id, staff_id, reason, urls, rollback=False)


@model.command()
@STAFF
@click.argument("version_id", type=int, required=False)
@click.option("--rasa-url", "urls", multiple=True, help="A Rasa server (repeatable).")
def rollback(staff_id: int, version_id: Optional[int], urls) -> None:
    """Re-activate an earlier version (default: the one active before the current one)."""
    from portal.errors import PortalError
    from portal.training.models import rollback_target

    if version_id is None:
        portal = _portal()
        with portal.sessions() as db:
            try:
                version_id = rollback_target(db).id
            except PortalError as exc:
                _fail(exc)
    _swap(version_id, staff_id, None, urls, rollback=True)
