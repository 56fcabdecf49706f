"""Properties (matrikkel units) the citizen owns."""
from __future__ import annotations

from sqlalchemy import select

from portal.models import Citizen, Property
from tests.conftest import AISHA, KARI, NINA, OLA, PER

PROPERTIES = "/api/v1/me/properties"


def test_kari_owns_fjellveien_12(client, login):
    response = client.get(PROPERTIES, headers=login(KARI))

    assert response.status_code == 200
    (prop,) = response.json["properties"]
    assert prop["matrikkel"] == "4601-12/345"
    assert prop["address"] == "Fjellveien 12, 5019 Bergen"
    assert (prop["kommunenr"], prop["gnr"], prop["bnr"], prop["festenr"],
            prop["seksjonsnr"]) == ("4601", 12, 345, 0, 0)


def test_the_others_own_nothing(client, login):
    for fnr in (OLA, AISHA, PER, NINA):
        response = client.get(PROPERTIES, headers=login(fnr))
        assert response.status_code == 200
        assert response.json == {"properties": []}, fnr


def test_co_owned_section_is_listed_for_both_owners(client, login, app):
    with app.extensions["portal"].sessions() as s:
        section = Property(kommunenr="4601", gnr=167, bnr=12, festenr=0, seksjonsnr=3,
                           address="Nygårdsgaten 5 H0201, 5015 Bergen")
        owners = s.execute(select(Citizen).where(Citizen.fnr.in_([KARI, OLA]))).scalars()
        for owner in owners.all():
            owner.properties.append(section)
        s.commit()

    kari = client.get(PROPERTIES, headers=login(KARI)).json["properties"]
    ola = client.get(PROPERTIES, headers=login(OLA)).json["properties"]

    assert [p["matrikkel"] for p in kari] == ["4601-12/345", "4601-167/12/0/3"]
    assert [p["matrikkel"] for p in ola] == ["4601-167/12/0/3"]
