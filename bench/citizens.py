"""Synthetic citizens for the benches: valid synthetic fødselsnumre, mobiles nobody has, and
Kari Nordmann's letters, offer and invoices each, loaded with the project's own demo loader."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple

import yaml

from portal.identity import synthetic_fnr


@dataclass(frozen=True)
class Citizen:
    fnr: str
    mobile: str
    first_name: str


FIRST_NAMES = ("Ingrid", "Lars", "Marit", "Ole", "Siri", "Jonas", "Hanne", "Erik", "Tone",
               "Anders", "Liv", "Magnus", "Sofie", "Henrik", "Eva", "Knut")
LAST_NAMES = ("Johansen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen",
              "Karlsen", "Haugen", "Berg", "Dahl", "Lie")


def make_citizens(count: int, seed: int, taken_fnrs: Iterable[str],
                  taken_mobiles: Iterable[str]) -> List[Citizen]:
    from portal.identity import normalize_fnr

    rng = random.Random(seed)
    fnrs, mobiles = set(taken_fnrs), set(taken_mobiles)
    out: List[Citizen] = []
    for _ in range(count * 50):                   # bounded: ~1 in 3 draws has a bad digit
        if len(out) == count:
            break
        fnr = synthetic_fnr(rng)
        if fnr is None or fnr in fnrs:
            continue
        normalize_fnr(fnr, allow_synthetic=True)  # the portal's own check must accept it
        mobile = f"+479{rng.randrange(10 ** 7):07d}"
        if mobile in mobiles:
            continue
        fnrs.add(fnr)
        mobiles.add(mobile)
        out.append(Citizen(fnr, mobile, rng.choice(FIRST_NAMES)))
    if len(out) < count:
        raise RuntimeError("could not generate enough synthetic citizens")
    return out


def citizens_yaml(citizens: List[Citizen], demo: Dict[str, Any], seed: int) -> Dict[str, Any]:
    """The demo file's format: each synthetic citizen gets Kari Nordmann's letters, offer and
    invoices (so the journey's replies can be checked), with a property and KIDs of its own."""
    from stdnum import luhn

    rng = random.Random(seed + 1)
    kari = demo["citizens"][0]
    people = []
    for n, citizen in enumerate(citizens):
        invoices = []
        for item in kari["invoices"]:
            body = f"{n:06d}{rng.randrange(10 ** 10):010d}"
            invoices.append({**item, "kid": body + luhn.calc_check_digit(body)})
        people.append({
            "fnr": citizen.fnr,
            "name": f"{citizen.first_name} {rng.choice(LAST_NAMES)}",
            "mobile": citizen.mobile,
            "language": "nb",
            "krr_reserved": False,
            "properties": [{"kommunenr": "4601", "gnr": 900 + n // 1000, "bnr": n % 1000 + 1,
                            "address": f"Benkeveien {n + 1}, 5020 Bergen"}],
            "letters": kari["letters"],
            "kindergarten_offers": kari["kindergarten_offers"],
            "invoices": invoices,
        })
    return {"municipality": demo["municipality"], "citizens": people}


def seed_portal(settings, citizens: List[Citizen], var_dir: Path, seed: int) -> Dict[str, int]:
    """Migrates the portal database and loads the demo municipality and the bench's citizens
    with the project's own loader (portal.services.demo.load_demo), as tests/conftest.py does."""
    from portal.bootstrap import Portal
    from portal.clock import Clock
    from portal.migrate import upgrade
    from portal.services.demo import DEMO_FILE, load_demo

    demo = yaml.safe_load(DEMO_FILE.read_text(encoding="utf-8"))
    path = var_dir / "bench_citizens.yaml"
    path.write_text(yaml.safe_dump(citizens_yaml(citizens, demo, seed), allow_unicode=True),
                    encoding="utf-8")
    portal = Portal(settings, Clock())
    try:
        upgrade(portal.engine)
        with portal.sessions() as db:
            demo_report = load_demo(db, portal.settings, now=portal.clock.now())
            bench_report = load_demo(db, portal.settings, now=portal.clock.now(), path=path)
            db.commit()
    finally:
        portal.engine.dispose()
    return {"demo": len(demo_report.created), "bench": len(bench_report.created)}


def demo_identities() -> Tuple[List[str], List[str]]:
    from portal.services.demo import DEMO_FILE

    demo = yaml.safe_load(DEMO_FILE.read_text(encoding="utf-8"))
    fnrs = [c["fnr"] for c in demo["citizens"]] + [demo.get("unknown_fnr", "")]
    mobiles = [c["mobile"] for c in demo["citizens"] if c.get("mobile")]
    return fnrs, mobiles
