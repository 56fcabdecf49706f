"""`assistant`: run, seed and operate the citizen assistant."""
from __future__ import annotations

import contextlib
import faulthandler
import signal
import sys
import threading
from typing import Iterator

import click

from portal.config import ConfigError, Settings


def _portal_context():
    from portal.bootstrap import Portal

    return Portal.from_env()


class AssistantGroup(click.Group):
    """A missing production secret ends any command with one clear line, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=AssistantGroup)
def main() -> None:
    """Bergen kommune's citizen assistant: portal, bot, SMS and web chat."""


@main.command()
def migrate() -> None:
    """Bring the portal database to the newest schema."""
    from portal.migrate import upgrade

    portal = _portal_context()
    upgrade(portal.engine)
    click.echo("Database is up to date.")


@main.command("seed-demo")
def seed_demo() -> None:
    """Load the demo municipality (idempotent: existing citizens are left alone)."""
    from portal.migrate import upgrade
    from portal.services.demo import load_demo

    portal = _portal_context()
    if not portal.settings.is_demo:
        raise click.ClickException("seed-demo loads made-up citizens: demo only "
                                   "(ASSISTANT_ENV=demo).")
    upgrade(portal.engine)
    with portal.sessions() as db:
        report = load_demo(db, portal.settings, now=portal.clock.now())
        db.commit()
    click.echo(f"Demo data: {len(report.created)} citizens created, "
               f"{len(report.skipped)} already there.")


@main.command()
@click.option("--port", type=int, help="Port (default PORTAL_PORT or 8000).")
@click.option("--host", default="127.0.0.1", show_default=True)
def portal(port: int | None, host: str) -> None:
    """Run the portal backend."""
    import dataclasses

    from portal.migrate import upgrade
    from portal.server import PortalServer

    from portal import logsetup

    logsetup.configure("portal")
    settings = Settings.from_env()
    if port:
        settings = dataclasses.replace(settings, port=port)
    portal = _portal_context()
    upgrade(portal.engine)
    PortalServer(settings, host=host).run()


@main.command("print-due")
def print_due() -> None:
    """Send unread letters past their deadline to print (run from cron)."""
    from portal.services.letters import send_due_to_print

    portal = _portal_context()
    with portal.sessions() as db:
        ids = send_due_to_print(db, now=portal.clock.now())
        db.commit()
    click.echo(f"{len(ids)} letter(s) sent to print.")


@main.command()
def purge() -> None:
    """Erase conversation content older than CONVERSATION_RETENTION_DAYS (run from cron)."""
    from portal.services.retention import cutoff, purge as run_purge

    portal = _portal_context()
    try:
        now = portal.clock.now()
        with portal.sessions() as db:
            purged = run_purge(db, portal.settings, now)
    finally:
        portal.close()
    click.echo(f"Erased content older than {cutoff(portal.settings, now):%Y-%m-%d %H:%M} UTC "
               f"({portal.settings.conversation_retention_days} days): {purged.summary()}.")


@main.command()
def savings() -> None:
    """Letters read digitally versus printed per month, and what it saved."""
    from portal.money import format_nok
    from portal.services.savings import monthly_savings

    portal = _portal_context()
    per_letter = portal.settings.saving_per_digital_letter_ore
    with portal.sessions() as db:
        months = monthly_savings(db, saving_per_letter_ore=per_letter,
                                 tz=portal.settings.timezone)
    click.echo(f"{'Month':<8} {'Digital':>8} {'Printed':>8} {'Share':>6} {'Saving':>16}")
    for m in months:
        click.echo(f"{m.month:<8} {m.read_digitally:>8} {m.printed:>8} "
                   f"{m.digital_share:>6.0%} {format_nok(m.saving_ore):>16}")
    total = sum(m.saving_ore for m in months)
    click.echo(f"Total saving: {format_nok(total)} ({format_nok(per_letter)} per letter "
               "read digitally)")


@main.command()
def train() -> None:
    """Train the bot model for the current training data (skipped when it exists)."""
    from assistant.model import ensure_model

    settings = Settings.from_env(required=())  # training needs no secret
    click.echo(f"Model: {ensure_model(settings.var_dir / 'models')}")


@main.command("nlu-report")
@click.option("--folds", default=5, show_default=True, help="Cross-validation folds.")
@click.option("--out", type=click.Path(), default=None, help="Report folder (default var/nlu).")
def nlu_report(folds: int, out: str | None) -> None:
    """Cross-validate the NLU model and write Rasa's intent report; prints macro-F1."""
    from pathlib import Path

    from assistant.nlu import cross_validate

    settings = Settings.from_env(required=())
    report = cross_validate(Path(out) if out else settings.var_dir / "nlu", folds=folds)
    click.echo(f"Intent macro-F1 ({folds}-fold cross-validation): {report.macro_f1:.3f}")
    click.echo(f"Weighted F1: {report.weighted_f1:.3f}  Accuracy: {report.accuracy:.3f}")
    for intent, f1 in sorted(report.per_intent.items(), key=lambda item: item[1]):
        click.echo(f"  {intent:<22} F1 {f1:.3f}")
    click.echo(f"Full report: {report.path}")


def sms_worker_args(settings: Settings) -> list[str]:
    """The command line `assistant up` runs for the SMS worker."""
    from assistant.processes import python_module

    return python_module("assistant.cli", "sms-worker")


@main.command("sms-worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--interval", type=click.FloatRange(min=0.01), default=0.25, show_default=True,
              help="Seconds between looks at the outbox.")
@click.option("--batch", type=click.IntRange(min=1), default=20, show_default=True,
              help="SMS claimed per look.")
@click.option("--lease-seconds", type=click.FloatRange(min=0.1), default=60.0,
              show_default=True, help="How long a claimed SMS is this worker's alone.")
@click.option("--request-timeout", type=click.FloatRange(min=0.1), default=15.0,
              show_default=True, help="Seconds to wait for Twilio (less than the lease).")
@click.option("--max-attempts", type=click.IntRange(min=1), default=8, show_default=True,
              help="Tries before an SMS is marked failed.")
@click.option("--purge/--no-purge", "daily_purge", default=True, show_default=True,
              help="Run the retention purge at start and once a day.")
def sms_worker(once: bool, interval: float, batch: int, lease_seconds: float,
               request_timeout: float, max_attempts: int, daily_purge: bool) -> None:
    """Send letter notices and the SMS outbox (through Twilio) until stopped (SIGTERM, Ctrl-C)."""
    import logging
    import os

    from portal.sms.sender import SendPolicy
    from portal.bootstrap import Portal
    from portal.services.retention import DailyPurge
    from portal.sms.worker import run

    settings = Settings.from_env()
    try:
        policy = SendPolicy(max_attempts=max_attempts, lease_seconds=lease_seconds,
                            request_timeout=request_timeout)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    from portal import logsetup
    from portal.metrics_server import serve_metrics

    logsetup.configure("sms-worker")
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # headers per request
    serve_metrics(os.environ, "sms-worker")
    with _until_stopped() as stop:
        context = Portal(settings)
        how = ("sending through Twilio" if settings.twilio_configured else
               "without Twilio (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER "
               "or TWILIO_MESSAGING_SERVICE_SID unset): SMS stay in the dev outbox")
        click.echo(f"SMS worker {how}{' (once)' if once else f', every {interval:g} s'}.")
        try:
            total = run(context, stop, policy=policy, interval=interval, limit=batch,
                        once=once, daily=DailyPurge() if daily_purge else None)
        finally:
            context.close()
    click.echo(f"SMS worker stopped: {total.summary()}.")


@main.group()
def staff() -> None:
    """Staff accounts: caseworkers and admins of the workspace."""


@contextlib.contextmanager
def _until_stopped() -> Iterator[threading.Event]:
    """An event SIGTERM and Ctrl-C set, for a worker's loop; while it runs, SIGUSR1 prints
    every thread's stack to the log (`kill -USR1 PID` on a worker that seems stuck)."""
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set())
                for signum in (signal.SIGTERM, signal.SIGINT)}
    try:  # the process's own stderr (the log), also when a test runner swapped sys.stderr
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    except (AttributeError, OSError, ValueError):  # no stderr with a file descriptor
        pass
    try:
        yield stop
    finally:
        faulthandler.unregister(signal.SIGUSR1)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _staff_call(action):
    """Runs `action(db, portal)` on a migrated database; domain errors become usage errors."""
    from portal.errors import PortalError
    from portal.migrate import upgrade

    portal = _portal_context()
    upgrade(portal.engine)
    try:
        with portal.sessions() as db:
            return action(db, portal)
    except PortalError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        portal.close()


@staff.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Full name.")
@click.option("--role", type=click.Choice(["caseworker", "admin"]), required=True)
def staff_add(email: str, name: str, role: str) -> None:
    """Create an account and print its one-time set-up link."""
    from portal.models import StaffRole
    from portal.staff import accounts

    def action(db, portal):
        settings = portal.settings
        member, token = accounts.add(db, email=email, name=name, role=StaffRole(role),
                                     now=portal.clock.now(),
                                     link_hours=settings.staff_setup_link_hours,
                                     by=accounts.CLI)
        click.echo(f"Created {member.role.value} {member.email}. Set-up link (single use, "
                   f"valid {settings.staff_setup_link_hours} h):")
        click.echo(f"{settings.portal_public_url}/staff/setup/{token}")

    _staff_call(action)


@staff.command("token")
@click.argument("email")
def staff_token(email: str) -> None:
    """Issue a revocable API token for the staff JSON API (printed once)."""
    from portal.staff import accounts

    def action(db, portal):
        member = accounts.get(db, email)
        token = accounts.issue_token(db, member, now=portal.clock.now(), by=accounts.CLI)
        click.echo(f"API token for {member.email} (shown once; send as 'Authorization: "
                   "Bearer <token>'):")
        click.echo(token)

    _staff_call(action)


@staff.command("reseal-totp")
def staff_reseal_totp() -> None:
    """Seal every TOTP secret with the first key of STAFF_TOTP_KEY (after adding a new key
    in front: "new,old"); then the old key can be removed."""
    from portal.bootstrap import Portal
    from portal.config import WEB_SECRETS
    from portal.services.audit import record
    from portal.staff import accounts, totp

    portal = Portal(Settings.from_env(required=WEB_SECRETS))
    try:
        with portal.sessions() as db:
            count = totp.reseal_all(db, portal.settings.staff_totp_key)
            record(db, accounts.CLI, "staff.totp_resealed", at=portal.clock.now(),
                   object_type="staff", detail={"count": count})
            db.commit()
    finally:
        portal.close()
    click.echo(f"Sealed {count} TOTP secret(s) with the first STAFF_TOTP_KEY.")


@staff.command("disable")
@click.argument("email")
def staff_disable(email: str) -> None:
    """End an account with all its sessions and tokens."""
    from portal.staff import accounts

    def action(db, portal):
        member = accounts.get(db, email)
        accounts.disable(db, member, now=portal.clock.now(), by=accounts.CLI)
        click.echo(f"Disabled {member.email}; its sessions and tokens no longer work.")

    _staff_call(action)


@staff.command("list")
def staff_list() -> None:
    """List staff accounts."""
    from portal.staff import accounts

    def action(db, portal):
        members = accounts.list_staff(db)
        click.echo(f"{'E-mail':<32} {'Name':<24} {'Role':<10} Status")
        for m in members:
            status = ("disabled" if not m.active else
                      "active" if m.totp_enrolled_at else "awaiting set-up")
            click.echo(f"{m.email:<32} {m.name:<24} {m.role.value:<10} {status}")
        click.echo(f"{len(members)} staff account(s).")

    _staff_call(action)


@main.command("turn-worker")
@click.option("--interval", type=click.FloatRange(min=0.01), default=0.2, show_default=True,
              help="Seconds between looks for logged SMS when idle.")
@click.option("--lease-seconds", type=click.FloatRange(min=1), default=60.0,
              show_default=True, help="How long a claimed conversation is this worker's alone.")
@click.option("--request-timeout", type=click.FloatRange(min=0.5), default=20.0,
              show_default=True, help="Seconds to wait for a Rasa turn (less than the lease).")
@click.option("--max-backoff", type=click.FloatRange(min=0.1), default=30.0,
              show_default=True, help="Longest wait before retrying a turn Rasa did not run.")
@click.option("--concurrency", type=click.IntRange(min=1, max=8), default=8,
              envvar="TURN_CONCURRENCY", show_default=True,
              help="Conversations this process works on at once (one thread each).")
def turn_worker(interval: float, lease_seconds: float, request_timeout: float,
                max_backoff: float, concurrency: int) -> None:
    """Run the bot's turns for logged SMS, in order per conversation, until stopped."""
    import logging
    import os

    from portal.bootstrap import Portal
    from portal.conversations.worker import (RasaPool, TurnPolicy, TurnWorker, rasa_urls_from_env,
                                             run_workers)

    settings = Settings.from_env()
    try:
        policy = TurnPolicy(lease_seconds=lease_seconds, request_timeout=request_timeout,
                            max_backoff=max_backoff)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    from portal import logsetup
    from portal.metrics_server import serve_metrics

    logsetup.configure("turn-worker")
    serve_metrics(os.environ, "turn-worker")
    with _until_stopped() as stop:
        context = Portal(settings)
        urls = rasa_urls_from_env(os.environ)
        # One pool each: a requests.Session is not shared between threads.
        workers = [TurnWorker(context, RasaPool(urls, settings.gateway_token, request_timeout),
                              policy) for _ in range(concurrency)]
        click.echo(f"Turn worker {workers[0].id} and {concurrency - 1} more in this process, "
                   f"over {len(urls)} Rasa server(s): {', '.join(urls)}.")
        try:
            turns = run_workers(workers, stop, interval=interval)
        finally:
            context.close()
    click.echo(f"Turn worker stopped after {turns} turn(s).")


@main.command()
def status() -> None:
    """Every process's health, queues, outbox, the active model and the last log errors."""
    from assistant.runtime import Runtime
    from assistant.status import collect, render

    runtime = Runtime.from_env()
    portal = _portal_context()
    try:
        result = collect(runtime, portal)
    finally:
        portal.close()
    click.echo(render(result))
    if not result.ok:
        raise SystemExit(1)


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def _active_model(portal):
    """The admin-activated model version, when one is set (else the fingerprint model)."""
    from portal.training.models import active_model_path

    with portal.sessions() as db:
        return active_model_path(db)


@main.command()
@click.option("--demo", is_flag=True,
              help="The local demo: ASSISTANT_ENV=demo for everything started, every server on "
                   "127.0.0.1 only, demo citizens, the REST channel and the dev SMS outbox.")
def up(demo: bool) -> None:
    """Run everything on this machine: portal, action server, Rasa, turn and SMS workers.

    Production unless --demo: then every secret must be set (see README, Configuration).
    """
    import logging
    import os

    from assistant.processes import Supervisor
    from assistant.runtime import Runtime
    from assistant.stack import start_stack
    from portal.migrate import upgrade
    from portal.models import Citizen
    from portal.services.demo import load_demo

    if demo:
        os.environ["ASSISTANT_ENV"] = "demo"
    runtime = Runtime.from_env()
    if runtime.settings.is_demo:
        click.echo(f"Demo ({runtime.settings.environment}): every server listens on 127.0.0.1 "
                   "only; demo citizens, the REST channel and the dev SMS outbox are on. "
                   "Never expose it.")
    portal = _portal_context()
    upgrade(portal.engine)
    with portal.sessions() as db:
        if runtime.settings.is_demo and db.query(Citizen.id).first() is None:
            report = load_demo(db, portal.settings, now=portal.clock.now())
            db.commit()
            click.echo(f"Loaded the demo municipality ({len(report.created)} citizens).")
    supervisor = Supervisor(runtime.child_env(), log_dir=runtime.settings.var_dir / "logs")
    supervisor.log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        handlers=[logging.StreamHandler(),
                                  logging.FileHandler(supervisor.log_dir / "supervisor.log")])
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        start_stack(runtime, supervisor, model=_active_model(portal))
        click.echo(f"""
The assistant is running ({runtime.rasa_instances} Rasa server(s), {runtime.turn_workers} turn worker(s)).
  Web chat:    {runtime.rasa_url}/webhooks/webchat/
  Portal API:  {runtime.portal_url}/docs
  Staff:       {runtime.portal_url}/staff/  (create accounts with `assistant staff add`)
  Twilio:      {runtime.settings.public_base_url}/webhooks/twilio/sms (status: /webhooks/twilio/status)""")
        if runtime.settings.dev_outbox:
            click.echo(f"  SMS outbox:  {runtime.portal_url}/dev/outbox  (one-time codes land here)")
        click.echo(f"  Logs:        {supervisor.log_dir}\nPress Ctrl-C to stop.")
        supervisor.run_forever()  # a process that exits is restarted; the others keep running
    except KeyboardInterrupt:
        click.echo("\nStopping …")
    finally:
        supervisor.stop()


from assistant.model_cli import model, nlu_export  # noqa: E402

main.add_command(model)
main.add_command(nlu_export)

if __name__ == "__main__":
    main()
