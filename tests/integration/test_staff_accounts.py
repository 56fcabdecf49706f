"""Staff accounts, login with TOTP, sessions, roles and tokens, on SQLite and PostgreSQL with the
key-value store in the real Redis."""
from __future__ import annotations

import dataclasses

import pyotp
import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import select, update

from assistant.cli import main
from portal import sealing
from portal.app import create_app
from portal.models import ActorType, AuditEvent, StaffApiToken, StaffMember, StaffSetupLink
from portal.staff import accounts, totp
from portal.staff.auth import staff_token_required
from tests.conftest import KARI, REDIS_URL, SERVICE_TOKEN
from tests.staff_helpers import PASSWORD, StaffAccount, create_staff, csrf_of, log_in
from tests.redis_fixtures import clean_redis, settings  # noqa: F401 - fixtures


@pytest.fixture
def app(app, database_url):
    # An admin-only JSON endpoint, to prove the token guard's role check.
    app.add_url_rule("/api/v1/staff/test-admin-only", "test_admin_only",
                     staff_token_required(role="admin")(lambda: {"ok": True}))
    return app


@pytest.fixture
def cli(database_url, tmp_path, monkeypatch, clock):
    monkeypatch.setattr("portal.bootstrap.Clock", lambda: clock)
    env = {"DATABASE_URL": database_url, "ASSISTANT_ENV": "test", "REDIS_URL": REDIS_URL,
           "ASSISTANT_VAR_DIR": str(tmp_path / "cli-var"),
           "PORTAL_PUBLIC_URL": "https://portal.example.no"}
    runner = CliRunner()

    def run(*args: str, ok: bool = True, **more_env: str):
        result = runner.invoke(main, list(args), env={**env, **more_env},
                               catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return run


def _read(db, statement, how: str = "scalar_one"):
    """Runs a query and ends the transaction (SQLite's BEGIN IMMEDIATE holds the write lock)."""
    try:
        return getattr(db.execute(statement), how)()
    finally:
        db.rollback()


def _actions(db, **where):
    query = select(AuditEvent).order_by(AuditEvent.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    try:
        return [(e.action, e.actor_type, e.actor_id) for e in db.execute(query).scalars()]
    finally:
        db.rollback()


def _setup_path(output: str) -> str:
    line = next(l for l in output.splitlines() if "/staff/setup/" in l)
    return line.strip().replace("https://portal.example.no", "")


def test_cli_add_link_password_enrol_logout_login(cli, client, clock, db):
    out = cli("staff", "add", "Siri.Berg@Bergen.kommune.no", "--name", "Siri Berg",
              "--role", "caseworker")
    assert "valid 24 h" in out
    path = _setup_path(out)
    token = path.rsplit("/", 1)[1]
    stored = _read(db, select(StaffSetupLink.token_hash), "scalar_one")
    assert stored == accounts.digest(token) and token not in stored

    page = client.get(path)
    assert page.status_code == 200 and "siri.berg@bergen.kommune.no" in page.get_data(True)
    done = client.post(path, data={"csrf_token": csrf_of(page.get_data(True)),
                                   "password": PASSWORD, "password_again": PASSWORD})
    assert done.status_code == 302 and done.location.endswith("/staff/enrol")
    # Enrolment comes before any use: the workspace is still closed.
    assert client.get("/staff/").status_code == 401

    enrol = client.get("/staff/enrol").get_data(as_text=True)
    assert "<svg" in enrol
    stored = _read(db, select(StaffMember.totp_secret), "scalar_one")
    secret = sealing.open_sealed("test-staff-totp-key", stored, "STAFF_TOTP_KEY")
    assert sealing.is_sealed(stored) and secret not in stored  # a dump cannot make codes
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in enrol
    wrong = client.post("/staff/enrol", data={"csrf_token": csrf_of(enrol), "code": "000000"})
    assert wrong.status_code == 401 and 'aria-invalid="true"' in wrong.get_data(True)
    ok = client.post("/staff/enrol", data={"csrf_token": csrf_of(enrol),
                                           "code": pyotp.TOTP(secret).at(clock.now())})
    assert ok.status_code == 302 and ok.location.endswith("/staff/")
    home = client.get("/staff/").get_data(as_text=True)
    assert "Ingen samtaler venter" in home and "Siri Berg (Saksbehandler)" in home

    logout = client.post("/staff/logout", data={"csrf_token": csrf_of(home)})
    assert logout.status_code == 302
    assert client.get("/staff/").status_code == 401

    # The link was single use.
    assert client.get(path).status_code == 410

    clock.advance(seconds=30)
    account = StaffAccount(0, "siri.berg@bergen.kommune.no", PASSWORD, secret)
    assert log_in(client, clock, account).location.endswith("/staff/")
    assert client.get("/staff/").status_code == 200

    member_id = _read(db, select(StaffMember.id), "scalar_one")
    assert [a for a, *_ in _actions(db, object_type="staff")] == [
        "staff.add", "staff.password_set", "staff.enrol_failed", "staff.totp_enrolled",
        "staff.login", "staff.logout", "staff.login"]
    assert set(_actions(db, actor_id=f"staff:{member_id}")) >= {
        ("staff.login", ActorType.CASEWORKER, f"staff:{member_id}")}
    assert "Siri Berg" in cli("staff", "list") and "active" in cli("staff", "list")


def test_password_rules_change_nothing(client, clock, db, app):
    portal = app.extensions["portal"]
    member, token = accounts.add(db, email="ola@bergen.kommune.no", name="Ola", role="admin",
                                 now=clock.now(), link_hours=24, by=accounts.CLI)
    path = f"/staff/setup/{token}"
    csrf = csrf_of(client.get(path).get_data(True))
    for password, message in [("kort-passord", "minst 12 tegn"),
                              ("ola@bergen.kommune.no", "e-postadressen"),
                              ("Password1234", "for vanlig")]:
        password = password if password != "kort-passord" else "kort"
        response = client.post(path, data={"csrf_token": csrf, "password": password,
                                           "password_again": password})
        html = response.get_data(as_text=True)
        assert response.status_code == 422 and message in html
        assert 'aria-describedby="password-hint password-error"' in html
    mismatch = client.post(path, data={"csrf_token": csrf, "password": PASSWORD,
                                       "password_again": PASSWORD + "x"})
    assert mismatch.status_code == 422 and "ikke like" in mismatch.get_data(True)
    with portal.sessions() as check:
        row = check.get(StaffMember, member.id)
        assert row.password_hash is None
        assert check.execute(select(StaffSetupLink.used_at)).scalar_one() is None


def test_expired_and_unknown_setup_links(client, clock, db):
    _, token = accounts.add(db, email="kari@bergen.kommune.no", name="Kari", role="caseworker",
                            now=clock.now(), link_hours=24, by=accounts.CLI)
    assert client.get("/staff/setup/not-a-token").status_code == 404
    clock.advance(hours=24)
    expired = client.get(f"/staff/setup/{token}")
    assert expired.status_code == 410 and "utløpt" in expired.get_data(True)
    posted = client.post(f"/staff/setup/{token}", data={
        "csrf_token": csrf_of(expired.get_data(True)), "password": PASSWORD,
        "password_again": PASSWORD})
    assert posted.status_code == 410
    db.expire_all()
    assert _read(db, select(StaffMember.password_hash), "scalar_one") is None


def test_a_totp_code_counts_once_per_time_step(client, clock, app, db):
    account = create_staff(app, clock, "per@bergen.kommune.no")
    assert log_in(client, clock, account).status_code == 302
    clock.advance(seconds=-30)  # back in the same step as the code just used
    other = app.test_client()
    csrf = csrf_of(other.get("/staff/login").get_data(True))
    other.post("/staff/login", data={"csrf_token": csrf, "email": account.email,
                                     "password": account.password})
    reused = other.post("/staff/login/code", data={"csrf_token": csrf,
                                                   "code": account.code(clock)})
    assert reused.status_code == 401 and "allerede brukt" in reused.get_data(True)
    assert other.get("/staff/").status_code == 401
    assert ("staff.login_failed", ActorType.CASEWORKER, f"staff:{account.id}") in _actions(db)


def test_failures_back_off_per_account_and_per_client(client, clock, app, db):
    account = create_staff(app, clock, "nina@bergen.kommune.no")
    csrf = csrf_of(client.get("/staff/login").get_data(True))

    def attempt(email, password, c=client):
        return c.post("/staff/login", data={"csrf_token": csrf, "email": email,
                                            "password": password})

    for _ in range(3):
        wrong = attempt(account.email, "feil-passord-123")
        assert wrong.status_code == 401 and "Feil e-postadresse eller passord" in wrong.get_data(True)
    assert attempt(account.email, "feil-passord-123").status_code == 401  # 4th sets a wait
    blocked = attempt(account.email, account.password)
    html = blocked.get_data(as_text=True)
    assert blocked.status_code == 429
    assert "For mange mislykkede forsøk. Prøv igjen om 0 min 2 s (kl. 11:0" in html
    # The account waits, whichever client asks.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    csrf2 = csrf_of(elsewhere.get("/staff/login").get_data(True))
    assert elsewhere.post("/staff/login", data={"csrf_token": csrf2, "email": account.email,
                                                "password": account.password}).status_code == 429
    # And the client waits, whichever account it tries next.
    assert attempt("someone@bergen.kommune.no", "whatever-at-all").status_code == 429
    store = redis.Redis.from_url(REDIS_URL)
    assert any(b"staff:login:account:" in k for k in store.keys())
    failures = [a for a in _actions(db) if a[0] == "staff.login_failed"]
    assert len(failures) == 4


def test_cookie_flags_and_language_switch(client, clock, app):
    account = create_staff(app, clock, "ali@bergen.kommune.no")
    response = client.get("/staff/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert '<html lang="nb"' in response.get_data(True)
    switched = client.post("/staff/language", data={"csrf_token": csrf_of(response.get_data(True)),
                                                    "lang": "en", "next": "/staff/login"})
    assert switched.status_code == 302
    english = client.get("/staff/login").get_data(as_text=True)
    assert '<html lang="en"' in english and "Log in with your e-mail address" in english
    log_in(client, clock, account)
    assert "No conversations waiting" in client.get("/staff/").get_data(True)


def test_idle_timeout_ends_the_session(client, clock, app, db):
    account = create_staff(app, clock, "eva@bergen.kommune.no")
    log_in(client, clock, account)
    clock.advance(minutes=29)
    assert client.get("/staff/").status_code == 200  # activity: the idle timer restarts
    clock.advance(minutes=29)
    assert client.get("/staff/").status_code == 200
    clock.advance(minutes=30)
    expired = client.get("/staff/")
    assert expired.status_code == 401
    assert "30 minutter uten aktivitet" in expired.get_data(True)
    assert 'href="/staff/login?next=/staff/"' in expired.get_data(True)
    assert client.get("/staff/").status_code == 401  # and it stays ended
    assert ("staff.session_expired", ActorType.CASEWORKER, f"staff:{account.id}") in _actions(db)


def test_disabling_ends_sessions_and_tokens_at_once(cli, client, clock, app, db):
    account = create_staff(app, clock, "tor@bergen.kommune.no")
    log_in(client, clock, account)
    out = cli("staff", "token", account.email)
    token = out.strip().splitlines()[-1]
    assert token.startswith("stf_")
    assert _read(db, select(StaffApiToken.token_hash), "scalar_one") == accounts.digest(token)
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/staff/me", headers=headers)
    assert me.status_code == 200
    assert me.json == {"id": account.id, "email": account.email, "name": "Siri Saksbehandler",
                       "role": "caseworker"}
    assert client.get("/staff/").status_code == 200

    assert "Disabled tor@bergen.kommune.no" in cli("staff", "disable", account.email)

    assert client.get("/staff/").status_code == 401
    refused = client.get("/api/v1/staff/me", headers=headers)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_token"
    # Nor can the password open a new session, nor a new token be issued.
    fresh = app.test_client()
    csrf = csrf_of(fresh.get("/staff/login").get_data(True))
    assert fresh.post("/staff/login", data={"csrf_token": csrf, "email": account.email,
                                            "password": account.password}).status_code == 401
    assert "disabled" in cli("staff", "token", account.email, ok=False)
    assert [a for a, *_ in _actions(db) if a.startswith("staff.")][-3:] == [
        "staff.token_issued", "staff.disable", "staff.login_failed"]
    assert _actions(db, action="staff.disable") == [
        ("staff.disable", ActorType.SYSTEM, "cli")]


def test_roles_reach_only_their_own_pages_and_endpoints(client, clock, app, db):
    caseworker = create_staff(app, clock, "cw@bergen.kommune.no")
    admin = create_staff(app, clock, "admin@bergen.kommune.no", role="admin", name="Anne Admin")
    log_in(client, clock, caseworker)
    page = client.get("/staff/admin/staff")
    assert page.status_code == 403 and "Ingen tilgang" in page.get_data(True)
    csrf = csrf_of(client.get("/staff/").get_data(True))
    assert client.post("/staff/admin/staff", data={"csrf_token": csrf, "email": "x@y.no",
                                                   "name": "X", "role": "admin"}).status_code == 403
    assert client.post(f"/staff/admin/staff/{admin.id}/disable",
                       data={"csrf_token": csrf}).status_code == 403
    with app.extensions["portal"].sessions() as check:
        assert check.get(StaffMember, admin.id).active
        assert check.execute(select(StaffMember).where(StaffMember.email == "x@y.no")).first() is None
    assert "Ansatte" not in client.get("/staff/").get_data(True)

    with app.extensions["portal"].sessions() as s:
        cw_token = accounts.issue_token(s, s.get(StaffMember, caseworker.id), now=clock.now(),
                                        by=accounts.CLI)
        admin_token = accounts.issue_token(s, s.get(StaffMember, admin.id), now=clock.now(),
                                           by=accounts.CLI)
    refused = client.get("/api/v1/staff/test-admin-only",
                         headers={"Authorization": f"Bearer {cw_token}"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden_role"
    assert client.get("/api/v1/staff/test-admin-only",
                      headers={"Authorization": f"Bearer {admin_token}"}).json == {"ok": True}

    admin_client = app.test_client()
    log_in(admin_client, clock, admin)
    staff_page = admin_client.get("/staff/admin/staff")
    assert staff_page.status_code == 200 and "cw@bergen.kommune.no" in staff_page.get_data(True)


def test_token_kinds_never_cross(client, clock, app, login):
    account = create_staff(app, clock, "lise@bergen.kommune.no")
    with app.extensions["portal"].sessions() as s:
        token = accounts.issue_token(s, s.get(StaffMember, account.id), now=clock.now(),
                                     by=accounts.CLI)
    citizen_headers = login(KARI)
    assert client.get("/api/v1/me", headers=citizen_headers).status_code == 200
    # A staff token never reaches the citizen endpoints ...
    staff_on_citizen = client.get("/api/v1/me", headers={
        **citizen_headers, "Authorization": f"Bearer {token}"})
    assert staff_on_citizen.status_code == 401
    assert client.get("/api/v1/me/letters",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # ... and neither the service token, a citizen session nor a staff page session reach staff's.
    for headers in ({"Authorization": f"Bearer {SERVICE_TOKEN}"}, citizen_headers, {},
                    {"Authorization": "Bearer stf_made-up"}, {"Authorization": token}):
        refused = client.get("/api/v1/staff/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json == {"error": {"code": "invalid_token",
                                          "message": "A valid staff API token is required."}}
    log_in(client, clock, account)
    assert client.get("/staff/").status_code == 200
    assert client.get("/api/v1/staff/me").status_code == 401


def test_forms_without_the_csrf_token_are_refused(client, clock, app, db):
    admin = create_staff(app, clock, "adm@bergen.kommune.no", role="admin")
    before = len(_actions(db))
    refused = client.post("/staff/login", data={"email": admin.email,
                                                "password": admin.password})
    assert refused.status_code == 400 and "Skjemaet var utløpt" in refused.get_data(True)
    assert len(_actions(db)) == before
    log_in(client, clock, admin)
    assert client.post("/staff/admin/staff", data={"email": "new@bergen.kommune.no",
                                                   "name": "Ny", "role": "caseworker"}
                       ).status_code == 400
    assert client.post("/staff/logout").status_code == 400
    assert client.post("/staff/admin/staff", data={"csrf_token": "forged", "name": "Ny",
                                                   "email": "new@bergen.kommune.no",
                                                   "role": "caseworker"}).status_code == 400
    assert client.get("/staff/").status_code == 200  # still logged in
    db.expire_all()
    assert _read(db, select(StaffMember).where(
        StaffMember.email == "new@bergen.kommune.no"), "first") is None


def test_pages_without_a_session_answer_401_with_a_login_link(client):
    for path in ("/staff/", "/staff/admin/staff", "/staff/queue"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 401 and "Du må logge inn" in html
        assert 'href="/staff/login?next=' in html


def test_admin_adds_and_disables_staff_with_audit(client, clock, app, db):
    admin = create_staff(app, clock, "boss@bergen.kommune.no", role="admin", name="Anne Admin")
    log_in(client, clock, admin)
    csrf = csrf_of(client.get("/staff/admin/staff").get_data(True))
    bad = client.post("/staff/admin/staff", data={"csrf_token": csrf, "email": "not-an-email",
                                                  "name": "Ny", "role": "caseworker"})
    assert bad.status_code == 422 and 'aria-describedby="email-error"' in bad.get_data(True)
    added = client.post("/staff/admin/staff", data={"csrf_token": csrf, "name": "Nils Ny",
                                                    "email": "nils@bergen.kommune.no",
                                                    "role": "caseworker"})
    html = added.get_data(as_text=True)
    assert added.status_code == 201 and "/staff/setup/" in html
    dup = client.post("/staff/admin/staff", data={"csrf_token": csrf, "name": "Nils Ny",
                                                  "email": "nils@bergen.kommune.no",
                                                  "role": "caseworker"})
    assert dup.status_code == 409
    nils_id = _read(db, select(StaffMember.id).where(
        StaffMember.email == "nils@bergen.kommune.no"))
    gone = client.post(f"/staff/admin/staff/{nils_id}/disable", data={"csrf_token": csrf})
    assert gone.status_code == 200 and "Nils Ny er deaktivert" in gone.get_data(True)
    assert client.post(f"/staff/admin/staff/{admin.id}/disable",
                       data={"csrf_token": csrf}).status_code == 409
    assert client.post("/staff/admin/staff/99999999999/disable",
                       data={"csrf_token": csrf}).status_code == 404
    by_admin = [(a, t) for a, t, i in _actions(db, actor_id=f"staff:{admin.id}")]
    assert ("staff.add", ActorType.ADMIN) in by_admin
    assert ("staff.disable", ActorType.ADMIN) in by_admin


def test_the_queue_region_announces_only_a_changed_count(client, clock, app):
    log_in(client, clock, create_staff(app, clock, "kai@bergen.kommune.no"))
    same = client.get("/staff/queue?seen=0", headers={"HX-Request": "true"})
    assert same.status_code == 200 and "Ingen samtaler venter" in same.get_data(True)
    assert "hx-swap-oob" not in same.get_data(True)
    changed = client.get("/staff/queue?seen=3", headers={"HX-Request": "true"}).get_data(True)
    assert '<div id="staff-live" hx-swap-oob="innerHTML">0 samtaler venter.</div>' in changed


def test_totp_secrets_are_resealed_with_a_new_key_and_plain_ones_sealed(cli, clock, app, db,
                                                                         settings):
    """Rotation: with "new,old" the old secrets still open; each login (and `reseal_all`)
    seals with the new key, after which the old key can go. A secret stored in clear before
    sealing began is sealed at its member's next login, or by `assistant staff reseal-totp`."""
    account = create_staff(app, clock, "kari.rotasjon@bergen.kommune.no")
    old = settings.staff_totp_key
    rotating = create_app(dataclasses.replace(settings, staff_totp_key=f"new-key-0123,{old}"),
                          clock)
    try:
        assert log_in(rotating.test_client(), clock, account).status_code == 302  # old key
        stored = _read(db, select(StaffMember.totp_secret), "scalar_one")
        assert sealing.open_sealed("new-key-0123", stored, "STAFF_TOTP_KEY") == account.secret
        with pytest.raises(sealing.CannotOpen):  # ... and sealed with the new one
            sealing.open_sealed(old, stored, "STAFF_TOTP_KEY")

        db.execute(update(StaffMember).values(totp_secret=account.secret))  # before sealing
        db.commit()
        out = cli("staff", "reseal-totp", STAFF_TOTP_KEY="new-key-0123")
        assert "Sealed 1 TOTP secret(s)" in out
        assert _actions(db, action="staff.totp_resealed") == [
            ("staff.totp_resealed", ActorType.SYSTEM, "cli")]
        stored = _read(db, select(StaffMember.totp_secret), "scalar_one")
        assert sealing.is_sealed(stored) and account.secret not in stored
        clock.advance(seconds=30)
        rotated = create_app(dataclasses.replace(settings, staff_totp_key="new-key-0123"),
                             clock)
        assert log_in(rotated.test_client(), clock, account).status_code == 302  # old key gone
        rotated.extensions["portal"].engine.dispose()
    finally:
        rotating.extensions["portal"].engine.dispose()
