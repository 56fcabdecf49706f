"""Arranging staff accounts and logging them in, for the staff tests."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pyotp

from portal.models import StaffRole
from portal.staff import accounts, totp

PASSWORD = "Fjordutsikt-Floyen-42"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class StaffAccount:
    id: int
    email: str
    password: str
    secret: str

    def code(self, clock) -> str:
        return pyotp.TOTP(self.secret).at(clock.now())


def create_staff(app, clock, email: str, role: str = "caseworker", name: str = "Siri Saksbehandler",
                 password: str = PASSWORD) -> StaffAccount:
    """An enrolled account (added, password set, TOTP confirmed) through the service layer."""
    portal = app.extensions["portal"]
    key = portal.settings.staff_totp_key
    with portal.sessions() as db:
        member, token = accounts.add(db, email=email, name=name, role=StaffRole(role),
                                     now=clock.now(), link_hours=24, by=accounts.CLI)
        link = accounts.setup_link(db, token, now=clock.now())
        accounts.set_password(db, link, password, now=clock.now(), totp_key=key)
        secret = totp.secret_of(member, key)
        accounts.confirm_enrolment(db, member, pyotp.TOTP(secret).at(clock.now()),
                                   now=clock.now(), totp_key=key)
        account = StaffAccount(member.id, member.email, password, secret)
    clock.advance(seconds=30)  # the enrolment code's time step is used up
    return account


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def log_in(client, clock, account: StaffAccount):
    """Password then TOTP through the real pages; returns the final response."""
    token = csrf_of(client.get("/staff/login").get_data(as_text=True))
    first = client.post("/staff/login", data={"csrf_token": token, "email": account.email,
                                               "password": account.password})
    assert first.status_code == 302 and first.location.endswith("/staff/login/code"), first
    page = client.get("/staff/login/code").get_data(as_text=True)
    response = client.post("/staff/login/code", data={"csrf_token": csrf_of(page),
                                                      "code": account.code(clock)})
    clock.advance(seconds=30)
    return response


def logged_in_client(app, clock, email: str, name: str, role: str = "caseworker"):
    """A new enrolled account and a test client logged in as it through the real pages."""
    account = create_staff(app, clock, email, role=role, name=name)
    client = app.test_client()
    assert log_in(client, clock, account).status_code == 302
    return account, client
