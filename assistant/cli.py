"""`assistant`: run, seed and operate the citizen assistant."""
from __future__ import annotations

import click

from portal.config import Settings


def _portal_context():
    from portal.app import Portal
    from portal.clock import Clock

    return Portal(Settings.from_env(), Clock())


@click.group()
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

    settings = Settings.from_env()
    click.echo(f"Model: {ensure_model(settings.var_dir / 'models')}")


@main.command("nlu-report")
@click.option("--folds", default=5, show_default=True, help="Cross-validation folds.")
@click.option("--out", type=click.Path(), default=None, help="Report folder (default var/nlu).")
def nlu_report(folds: int, out: str | None) -> None:
    """Cross-validate the NLU model and write Rasa's intent report; prints macro-F1."""
    from pathlib import Path

    from assistant.nlu import cross_validate

    settings = Settings.from_env()
    report = cross_validate(Path(out) if out else settings.var_dir / "nlu", folds=folds)
    click.echo(f"Intent macro-F1 ({folds}-fold cross-validation): {report.macro_f1:.3f}")
    click.echo(f"Weighted F1: {report.weighted_f1:.3f}  Accuracy: {report.accuracy:.3f}")
    for intent, f1 in sorted(report.per_intent.items(), key=lambda item: item[1]):
        click.echo(f"  {intent:<22} F1 {f1:.3f}")
    click.echo(f"Full report: {report.path}")


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


@main.command()
def up() -> None:
    """Run everything on this machine: portal, action server, Rasa and the web chat."""
    import signal
    import time

    from assistant.processes import Supervisor
    from assistant.runtime import Runtime
    from assistant.stack import start_stack
    from portal.migrate import upgrade
    from portal.models import Citizen
    from portal.services.demo import load_demo

    runtime = Runtime.from_env()
    portal = _portal_context()
    upgrade(portal.engine)
    with portal.sessions() as db:
        if db.query(Citizen.id).first() is None:
            report = load_demo(db, portal.settings, now=portal.clock.now())
            db.commit()
            click.echo(f"Loaded the demo municipality ({len(report.created)} citizens).")
    supervisor = Supervisor(runtime.child_env(), log_dir=runtime.settings.var_dir / "logs")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        start_stack(runtime, supervisor)
        click.echo(f"""
The assistant is running.
  Web chat:    {runtime.rasa_url}/webhooks/webchat/
  Portal API:  {runtime.portal_url}/docs""")
        if runtime.settings.dev_outbox:
            click.echo(f"  SMS outbox:  {runtime.portal_url}/dev/outbox  (one-time codes land here)")
        click.echo(f"  Logs:        {supervisor.log_dir}\nPress Ctrl-C to stop.")
        while (dead := supervisor.dead()) is None:
            time.sleep(1)
        raise click.ClickException(f"{dead.name} stopped unexpectedly; see {dead.log_path}")
    except KeyboardInterrupt:
        click.echo("\nStopping …")
    finally:
        supervisor.stop()


if __name__ == "__main__":
    main()
