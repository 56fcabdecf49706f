"""One log redaction in every process: messages, tracebacks and stack info, and no SQL
parameters in database errors."""
import logging
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy.exc import IntegrityError

from portal import logredact
from portal.models import Citizen
from tests.conftest import KARI, T0

# Each form a citizen or an error message may carry, as it would be written.
FORMS = ["14838542035", "148385 42035", "010190-12345", "01.01.90 12345", "+4791234567",
         "912 34 567", "+46 70 123 45 67", "+447911123456", "0044 7911 123456", "654321"]


@pytest.fixture
def redacting():
    factory = logging.getLogRecordFactory()
    logredact.install()
    yield
    logging.setLogRecordFactory(factory)


def _render(logger_name: str, emit) -> str:
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("form", FORMS)
def test_message_traceback_and_stack_info_are_masked(redacting, form):
    def emit(logger):
        try:
            raise ValueError(f"no citizen {form}")
        except ValueError:
            logger.exception("lookup of %s failed", form, stack_info=True)

    output = _render("t.redact", emit)
    assert "Traceback" in output and "ValueError" in output and "Stack (most recent" in output
    assert form not in output
    assert output.count("[") >= 2  # the message and the exception both masked


def test_stack_info_is_masked(redacting):
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "x", None, None,
                               sinfo='Stack:\n  File "a.py", line 1\n    lookup("010190-12345")')
    assert "010190-12345" not in logredact.redact_record(record).stack_info


def test_installing_twice_wraps_once(redacting):
    factory = logging.getLogRecordFactory()
    logredact.install()
    assert logging.getLogRecordFactory() is factory


def test_database_errors_carry_no_parameters(app, db, demo, redacting):
    db.add(Citizen(fnr=KARI, name="Kopi Kari", mobile="+4791234567", created_at=T0))
    with pytest.raises(IntegrityError) as caught:
        db.flush()
    db.rollback()
    assert "+4791234567" not in str(caught.value)  # the bound values are not in the error
    assert "hidden due to hide_parameters" in str(caught.value)

    def emit(logger):  # PostgreSQL's own detail names the key; the log masks it
        try:
            raise caught.value
        except IntegrityError:
            logger.exception("insert failed")

    output = _render("t.sql", emit)
    assert "IntegrityError" in output and KARI not in output and "+4791234567" not in output


PROCESS_SETUP = {
    # The portal: its app factory (gunicorn's workers load it).
    "portal": """
        from portal.app import create_app
        from portal.config import Settings
        app = create_app(Settings.from_env())
        logger = app.logger
    """,
    # The SMS worker: the CLI's set-up (basicConfig, then the composition root).
    "sms-worker": """
        import logging
        from portal.bootstrap import Portal
        from portal.config import Settings
        logging.basicConfig(level=logging.INFO)
        Portal(Settings.from_env())
        logger = logging.getLogger("portal.sms.worker")
    """,
    # Rasa and the action server: both run through channels.rasa_main, then Rasa's logging.
    "rasa-and-actions": """
        import logging
        from channels import rasa_main
        rasa_main.install_log_redaction()
        from rasa.utils.common import configure_logging_and_warnings
        configure_logging_and_warnings(logging.INFO)
        logger = logging.getLogger("rasa_sdk.executor")
    """,
}


@pytest.mark.parametrize("process", sorted(PROCESS_SETUP))
def test_every_process_logs_no_form_in_clear(process, tmp_path):
    script = textwrap.dedent(PROCESS_SETUP[process]) + textwrap.dedent(f"""
        forms = {FORMS!r}
        for form in forms:
            try:
                raise RuntimeError("failed for " + form)
            except RuntimeError:
                logger.error("citizen wrote %s", form, exc_info=True, stack_info=True)
        logger.error("done")
    """)
    env = {"ASSISTANT_VAR_DIR": str(tmp_path), "ASSISTANT_ENV": "demo", "PATH": "/usr/bin:/bin",
           "RASA_TELEMETRY_ENABLED": "false", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "done" in output and output.count("RuntimeError") >= len(FORMS)
    leaked = [form for form in FORMS if form in output]
    assert leaked == [], output


def test_rasa_s_rendered_debug_lines_with_what_a_citizen_wrote_lose_personal_codes(redacting):
    """Rasa renders its structlog events into the record's message before logging sees it."""
    def emit(logger):
        logger.warning('{"parse_data_text": "personlig kode 2580", "event": '
                       '"processor.message.parse"}')
        logger.warning("rule_policy.actions.find current_states=\n[state 1] user text: "
                       "koden min er 31415926 | previous action name: action_listen")
        logger.warning("Starting Rasa server on http://127.0.0.1:5005")

    output = _render("rasa.core.processor", emit)
    assert "2580" not in output and "31415926" not in output
    assert "personlig kode [kode]" in output
    assert "127.0.0.1:5005" in output  # other lines keep their figures


def test_twilio_ids_stay_readable_in_log_lines_and_what_surrounds_them_is_masked(redacting):
    sid = "SM8481bef111d84c1682cd064281de6613"  # a 6-digit run inside the id

    def emit(logger):
        logger.warning("inbound SMS %s from %s, code %s", sid, "+4791234567", "654321")

    output = _render("t.sid", emit)
    assert sid in output and "+4791234567" not in output and "654321" not in output


def test_what_a_citizen_wrote_never_keeps_an_id_shaped_text():
    from portal.privacy import redact_citizen_text, redact_text

    for redact in (redact_text, redact_citizen_text):
        assert "064281" not in redact("SM8481bef111d84c1682cd064281de6613")
