"""Annotations, the NLU inbox, the held-out set and `assistant nlu-export` (SQLite and
PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from assistant.cli import main
from portal.errors import InvalidInput, NotFound
from portal.models import AuditEvent, Channel, NluAnnotation
from portal.training.annotations import (HELD_OUT_PERCENT, InboxFilter, annotate,
                                         domain_intents, inbox, training_examples)
from portal.training.data import base_texts, export_annotations, nlu_yaml
from tests.conftest import T0
from tests.training_fixtures import add_conversation, add_message


def test_domain_intents_are_the_domains():
    intents = domain_intents()
    assert {"help", "check_invoices", "out_of_scope", "greet"} <= set(intents)
    assert "nlu_fallback" not in intents


def test_inbox_groups_identical_texts_and_filters(db, demo):
    web = add_conversation(db, Channel.WEBCHAT, "w1", T0)
    sms = add_conversation(db, Channel.SMS, "s1", T0)
    add_message(db, web, "kor e rekninga mi", confidence=0.31, at=T0)
    add_message(db, sms, "kor e rekninga mi", confidence=0.35, language="nn",
                at=T0 + timedelta(hours=1))
    add_message(db, web, "hei", intent="greet", confidence=0.99, at=T0 + timedelta(hours=2))
    add_message(db, web, "svar", direction="out", author="bot", at=T0)
    db.commit()

    page = inbox(db, InboxFilter(), staff_id=7, now=T0)
    assert page.total == 2
    assert [(r.text, r.count) for r in page.rows] == [("hei", 1), ("kor e rekninga mi", 2)]
    assert page.rows[1].channel == "sms" and page.rows[1].confidence == 0.35

    def texts(**kw):
        return [r.text for r in inbox(db, InboxFilter(**kw), staff_id=7, now=T0).rows]

    assert texts(below=0.5) == ["kor e rekninga mi"]
    assert texts(fell_back=True) == ["kor e rekninga mi"]
    assert texts(intent="greet") == ["hei"]
    assert texts(language="nn") == ["kor e rekninga mi"]
    assert texts(channel="webchat") == ["hei", "kor e rekninga mi"]
    assert texts(channel="sms") == ["kor e rekninga mi"]
    assert texts(since=T0 + timedelta(minutes=90)) == ["hei"]
    assert texts(until=T0 + timedelta(minutes=30)) == ["kor e rekninga mi"]
    assert texts(per_page=1, page=2) == ["kor e rekninga mi"]
    with pytest.raises(InvalidInput):
        inbox(db, InboxFilter(channel="fax"), staff_id=7, now=T0)
    with pytest.raises(InvalidInput):
        inbox(db, InboxFilter(below=2), staff_id=7, now=T0)

    message_id = page.rows[1].message_id
    annotate(db, message_id, "check_invoices", staff_id=7, now=T0)
    db.commit()
    assert texts(unannotated=True) == ["hei"]
    row = inbox(db, InboxFilter(), staff_id=7, now=T0).rows[1]
    assert row.annotation == "check_invoices"
    assert db.execute(select(func.count()).select_from(AuditEvent)
                      .where(AuditEvent.action == "nlu.inbox")).scalar() >= 1


def _count(db) -> int:
    return db.execute(select(func.count(NluAnnotation.id))).scalar()


def test_bad_annotations_are_refused_and_change_nothing(db, demo):
    web = add_conversation(db, Channel.WEBCHAT, "w1", T0)
    message = add_message(db, web, "kor e rekninga mi")
    bot = add_message(db, web, "Beklager", direction="out", author="bot")
    db.commit()
    for label in ("pay_parking", "nlu_fallback", ""):
        with pytest.raises(InvalidInput) as error:
            annotate(db, message.id, label, staff_id=7, now=T0)
        assert error.value.code == "unknown_intent"
    for missing in (message.id + 1000, bot.id):
        with pytest.raises(NotFound) as error:
            annotate(db, missing, "check_invoices", staff_id=7, now=T0)
        assert error.value.code == "message_not_found"
    with pytest.raises(InvalidInput):
        annotate(db, 2 ** 40, "check_invoices", staff_id=7, now=T0)
    db.rollback()
    assert _count(db) == 0
    assert db.execute(select(func.count()).select_from(AuditEvent)
                      .where(AuditEvent.action == "nlu.annotate")).scalar() == 0


def test_annotation_labels_texts_and_is_audited(db, demo):
    web = add_conversation(db, Channel.WEBCHAT, "w1", T0, citizen_id=demo["14838542035"])
    first = add_message(db, web, "mitt fnr er [fødselsnummer] vis rekninga")
    again = add_message(db, web, "mitt fnr er [fødselsnummer] vis rekninga ")
    other = add_message(db, web, "kan eg parkere her")
    noise = add_message(db, web, "asdf")
    annotate(db, first.id, "check_invoices", staff_id=7, now=T0)
    annotate(db, again.id, "show_paid_invoices", staff_id=8, now=T0)  # same text: relabel
    annotate(db, other.id, "out_of_scope", staff_id=7, now=T0)
    annotate(db, noise.id, "ignore", staff_id=7, now=T0)
    db.commit()
    rows = {a.text: a for a in db.execute(select(NluAnnotation)).scalars()}
    assert set(rows) == {"mitt fnr er [fødselsnummer] vis rekninga", "kan eg parkere her",
                         "asdf"}
    assert rows["mitt fnr er [fødselsnummer] vis rekninga"].intent == "show_paid_invoices"
    assert rows["mitt fnr er [fødselsnummer] vis rekninga"].staff_id == 8
    assert rows["asdf"].state == "ignored" and rows["asdf"].intent is None
    events = db.execute(select(AuditEvent).where(AuditEvent.action == "nlu.annotate")
                        ).scalars().all()
    assert len(events) == 4 and {e.actor_id for e in events} == {"staff:7", "staff:8"}
    assert events[0].citizen_id == demo["14838542035"]


def test_held_out_share_is_stratified_and_never_moves(db, demo):
    web = add_conversation(db, Channel.WEBCHAT, "w1", T0)
    messages = [add_message(db, web, f"vis meg regning nummer {i}") for i in range(20)]
    messages += [add_message(db, web, f"hva er været i dag {i}") for i in range(10)]
    for m in messages[:20]:
        annotate(db, m.id, "check_invoices", staff_id=1, now=T0)
    for m in messages[20:]:
        annotate(db, m.id, "out_of_scope", staff_id=1, now=T0)
    db.commit()
    held = training_examples(db, held_out=True)
    assert len(held["check_invoices"]) == 20 * HELD_OUT_PERCENT // 100
    assert len(held["out_of_scope"]) == 10 * HELD_OUT_PERCENT // 100
    before = {a.text: a.held_out for a in db.execute(select(NluAnnotation)).scalars()}
    for m in messages:  # relabelling keeps every text on its side
        annotate(db, m.id, "help", staff_id=2, now=T0)
    db.commit()
    after = {a.text: a.held_out for a in db.execute(select(NluAnnotation)).scalars()}
    assert after == before
    trained = training_examples(db, held_out=False)["help"]
    assert not set(trained) & set(t for t, h in after.items() if h)


def test_nlu_export_writes_the_trainable_annotations(db, demo, database_url, tmp_path):
    web = add_conversation(db, Channel.WEBCHAT, "w1", T0)
    known = sorted(base_texts())[0]
    texts = [f"kva skuldar eg kommunen {i}" for i in range(10)] + [known]
    for text in texts:
        annotate(db, add_message(db, web, text).id, "check_invoices", staff_id=1, now=T0)
    db.commit()
    out = tmp_path / "annotated.yml"
    result = CliRunner().invoke(main, ["nlu-export", "--out", str(out)],
                                env={"DATABASE_URL": database_url, "ASSISTANT_ENV": "test",
                                     "ASSISTANT_VAR_DIR": str(tmp_path / "var")},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(out.read_text())
    exported = [line[2:] for line in data["nlu"][0]["examples"].splitlines()]
    held = set(training_examples(db, held_out=True).get("check_invoices", []))
    assert data["nlu"][0]["intent"] == "check_invoices"
    assert held and not held & set(exported)
    assert known not in exported  # already in the hand-written data
    assert set(exported) == set(texts) - held - {known}
    assert "8 annotated example(s)" in result.output or f"{len(exported)} annotated" in \
        result.output
    assert export_annotations(db, tmp_path / "again.yml") == len(exported)


def test_empty_export_is_valid_yaml():
    assert yaml.safe_load(nlu_yaml({}))["nlu"] == []
