"""Synthetic Bergen-sized data for the portal benchmark, bulk-loaded with PostgreSQL COPY.

The schema itself always comes from the project's Alembic migrations (portal.migrate.upgrade);
this module only fills it. Secondary indexes, unique and foreign-key constraints of the bulk
tables are captured from the migrated schema, dropped for the load and re-created afterwards
from their own definitions, so the benchmark always measures the indexes the migrations define.
"""
from __future__ import annotations

import io
import json
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Dict, Iterator, List, Optional, Tuple

import psycopg2
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from portal.migrate import upgrade

DATA_VERSION = 1  # bump when the generated rows change shape, to force a refill
BULK_TABLES = ("citizens", "letters", "invoices")
MUNICIPALITY_ACCOUNT = "15031234562"
SECONDS_PER_DAY = 86400


# --------------------------------------------------------------------------------------------
# Vocabulary


FIRST_NAMES = (
    "Kari Ola Ingrid Lars Anne Per Marit Hans Liv Jon Nina Knut Silje Erik Hilde Bjørn Ragnhild "
    "Sigurd Tone Magnus Solveig Eirik Astrid Henrik Ida Sindre Maren Tor Kristin Øyvind Line "
    "Håkon Eli Vegard Turid Jørgen Sofie Anders Nora Mats Emma Jakob Aisha Ali Fatima Mohammed "
    "Agnieszka Piotr Olena Andrii Ahmed Amina Yonas Selam Marta Tomasz Leila Omar Hanne Sverre"
).split()
LAST_NAMES = (
    "Hansen Johansen Olsen Larsen Andersen Pedersen Nilsen Kristiansen Jensen Karlsen Johnsen "
    "Pettersen Eriksen Berg Haugen Hagen Johannessen Andreassen Jacobsen Dahl Jørgensen Halvorsen "
    "Henriksen Lund Sørensen Jakobsen Moen Gundersen Iversen Strand Solberg Svendsen Eide "
    "Knutsen Martinsen Paulsen Bakken Kristoffersen Mathisen Lie Amundsen Nguyen Rasmussen "
    "Ali Ahmed Kowalski Nowak Hussain Mohamed Fjeldstad Vik Tveit Kvamme Espeland Hauge Sæle "
    "Brekke Myklebust Fosse Helland Skogen Bjørke"
).split()
STREETS = (
    "Fjellveien|Kalfarveien|Nygårdsgaten|Møhlenprisbakken|Sandviksveien|Fyllingsdalsveien|"
    "Loddefjordveien|Åsaneveien|Fanaveien|Nesttunbrekka|Michael Krohns gate|Damsgårdsveien|"
    "Ibsens gate|Vestre Torggaten|Kong Oscars gate|Øvre Ervik vei|Lyngbøveien|Storetveitvegen|"
    "Hop Senter|Krohnengen|Slettebakksveien|Landåsveien|Birkelundsbakken|Haukelandsveien|"
    "Olav Kyrres gate|Strandgaten|Nordnesveien|Sydnesgaten|Minde allé|Paradisleitet"
).split("|")
KINDERGARTENS = (
    "Solstrålen barnehage|Kalfaret barnehage|Fjellsiden barnehage|Nordnes barnehage|"
    "Møhlenpris barnehage|Ytre Laksevåg barnehage|Tertnes barnehage|Hordvik barnehage|"
    "Skjold barnehage|Nattland barnehage|Haukås barnehage|Landås barnehage|"
    "Fyllingsdalen barnehage|Kringlebotn barnehage|Sandsli barnehage"
).split("|")
SCHOOLS = ("Rothaugen skole|Sandgotna skole|Landås skole|Ny-Krohnborg skole|Slettebakken skole|"
           "Nattland skole|Haukås skole|Kalvatræet skole").split("|")

# (category, sender unit, title, body). Placeholders: {name} {address} {kg} {school} {date}
# {date2} {ref} {amount} {year} {street}
TEMPLATES = [
    ("barnehage", "Bergen kommune, Barnehageetaten", "Tilbud om barnehageplass ved {kg}",
     "Hei {name}. Vi har gleden av å tilby barnet ditt plass ved {kg} med oppstart {date}. "
     "Tilbudet gjelder heltidsplass, fem dager i uken. Du må svare på tilbudet innen {date2}, "
     "ellers mister barnet plassen og den blir tilbudt neste barn på ventelisten. Du svarer på "
     "Min side eller ved å svare på SMS-en du har fått. Har du spørsmål, kan du kontakte "
     "barnehagen direkte eller Barnehageetaten på telefon 55 56 55 56. Saksnummer {ref}."),
    ("barnehage", "Bergen kommune, Barnehageetaten", "Vedtak om redusert foreldrebetaling",
     "Vi har behandlet søknaden din om redusert foreldrebetaling i barnehage for barnehageåret "
     "{year}. Søknaden er innvilget. Samlet inntekt i husholdningen er lagt til grunn, og "
     "ny pris gjelder fra {date}. Reduksjonen vil komme fram på neste faktura. Du kan klage på "
     "vedtaket innen tre uker etter at du mottok dette brevet. Klagen sendes Barnehageetaten, og "
     "du må begrunne hvorfor du mener vedtaket er feil. Saksnummer {ref}."),
    ("barnehage", "Bergen kommune, {kg}", "Informasjon om foreldremøte i {kg}",
     "Til foresatte i {kg}. Velkommen til foreldremøte {date} klokken 18.00 i barnehagens "
     "fellesrom. Vi går gjennom planene for høsten, turdager, språkarbeid og rutiner for "
     "levering og henting. Samarbeidsutvalget vil også orientere om dugnaden i uteområdet. "
     "Gi gjerne beskjed til personalet på avdelingen om du ikke har anledning til å komme. "
     "Vennlig hilsen styrer og personalet i {kg}."),
    ("vedtak", "Bergen kommune, Plan- og bygningsetaten", "Vedtak om rammetillatelse – {address}",
     "Plan- og bygningsetaten har behandlet søknaden om tiltak på eiendommen {address}. "
     "Søknaden er godkjent etter plan- og bygningsloven § 20-1, med de vilkår som går fram av "
     "vedlagte vedtak. Arbeidet kan ikke starte før igangsettingstillatelse er gitt. "
     "Tillatelsen faller bort dersom arbeidet ikke er satt i gang innen tre år. Nabomerknader "
     "er vurdert og tatt med i vurderingen. Du kan klage innen tre uker. Saksnummer {ref}."),
    ("vedtak", "Bergen kommune, Etat for hjemmebaserte tjenester",
     "Vedtak om praktisk bistand i hjemmet",
     "Hei {name}. Du har søkt om praktisk bistand i hjemmet. Du får innvilget hjemmehjelp to "
     "timer annenhver uke fra {date}. Tjenesten omfatter rengjøring av de rommene du bruker "
     "daglig. Egenandelen beregnes ut fra husstandens samlede inntekt og er i år {amount} per "
     "måned. Vedtaket gjelder til {date2}, og vi vil ta kontakt i god tid før det løper ut. "
     "Du kan klage på vedtaket til Statsforvalteren via etaten. Saksnummer {ref}."),
    ("vedtak", "Bergen kommune, Bymiljøetaten",
     "Vedtak om parkeringstillatelse for forflytningshemmede",
     "Bymiljøetaten har behandlet søknaden din om parkeringstillatelse for forflytningshemmede. "
     "Søknaden er innvilget for perioden {date} til {date2}. Kortet sendes i posten til "
     "folkeregistrert adresse, {address}, og må ligge godt synlig i frontruten når bilen står "
     "parkert. Tillatelsen er personlig og gjelder bare når du selv blir kjørt eller kjører. "
     "Misbruk kan føre til at tillatelsen trekkes tilbake. Saksnummer {ref}."),
    ("vedtak", "Bergen kommune, Etat for skole", "Vedtak om skoleskyss",
     "Barnet ditt har rett til gratis skoleskyss til {school} skoleåret {year} fordi skoleveien "
     "er over fire kilometer. Skysskortet lastes inn på barnets reisekort før skolestart. "
     "Dersom barnet flytter eller bytter skole, må du gi beskjed til skolen så raskt som mulig. "
     "Du kan klage på vedtaket innen tre uker. Klagen sendes skolen, som vurderer saken på nytt "
     "før den eventuelt sendes videre til Statsforvalteren i Vestland. Saksnummer {ref}."),
    ("vedtak", "Bergen kommune, Boligetaten", "Vedtak om startlån",
     "Vi har behandlet søknaden din om startlån. Du får innvilget et lån på inntil {amount} til "
     "kjøp av egen bolig. Lånet har flytende rente fra Husbanken og en løpetid på inntil 30 år. "
     "Finansieringsbeviset er gyldig i seks måneder fra {date}. Før lånet utbetales, må "
     "kjøpekontrakt og takst sendes til Boligetaten. Ta kontakt med saksbehandler dersom "
     "forutsetningene endrer seg. Du kan klage innen tre uker. Saksnummer {ref}."),
    ("varsel", "Bergen brannvesen", "Varsel om feiing og tilsyn – {address}",
     "Hei {name}. Feiervesenet kommer til {address} i uke {week} for å feie pipen og føre "
     "tilsyn med fyringsanlegget. Vi kommer mellom klokken 08.00 og 15.00. Sørg for at "
     "feieluken er tilgjengelig, og at det ikke fyres i ovnen samme dag. Dersom du ikke er "
     "hjemme, kan vi feie fra taket. Passer ikke tidspunktet, kan du endre det på Min side "
     "innen {date}. Feiing og tilsyn er inkludert i de kommunale avgiftene."),
    ("varsel", "Bergen kommune, Vann- og avløpsetaten", "Varsel om stenging av vann i {street}",
     "På grunn av arbeid på vannledningen i {street} blir vannet stengt {date} mellom klokken "
     "09.00 og 15.00. Tapp gjerne opp vann på forhånd. Når vannet kommer tilbake, kan det "
     "være misfarget en kort stund; la kranen renne til vannet er klart. Vi beklager ulempene "
     "dette medfører. Spørsmål om arbeidet kan rettes til vakttelefonen 55 56 60 00. "
     "Vann- og avløpsetaten, Bergen kommune."),
    ("varsel", "Bergen kommune, Plan- og bygningsetaten", "Varsel om oppstart av planarbeid",
     "Som eier eller fester av eiendom i nærheten av {street} varsles du om at det startes "
     "arbeid med en reguleringsplan for området. Planen skal legge til rette for boliger, "
     "grøntområder og en ny gang- og sykkelvei. Innspill til planarbeidet kan sendes innen "
     "{date}. Planbeskrivelse og kart ligger på kommunens nettsider. Det blir holdt åpent "
     "informasjonsmøte {date2} i bydelshuset. Saksnummer {ref}."),
    ("varsel", "BIR AS på vegne av Bergen kommune", "Endring i tømmekalender for {street}",
     "Fra {date} endres tømmedagene for restavfall og papir i {street}. Restavfall tømmes "
     "annenhver tirsdag og papir hver fjerde fredag. Beholderne må stå ved veien før klokken "
     "07.00 på tømmedagen, med lokket lukket og håndtaket vendt ut. Glass og metall leveres "
     "på nærmeste returpunkt. Se oppdatert tømmekalender på Min side eller i BIR-appen."),
    ("generell", "Bergen kommune, Etat for helsetjenester", "Innkalling til helsestasjon",
     "Hei {name}. Barnet ditt er satt opp til konsultasjon på helsestasjonen {date} klokken "
     "10.30. Vi ser på vekt, lengde og utvikling, og det blir gitt vaksine etter "
     "barnevaksinasjonsprogrammet. Ta med helsekortet. Dersom tidspunktet ikke passer, ber vi "
     "om at du gir beskjed senest dagen før, slik at timen kan gå til noen andre. Har barnet "
     "feber eller er sykt, må timen flyttes. Vennlig hilsen helsestasjonen."),
    ("generell", "Bergen kommune, Eiendomsskattekontoret",
     "Informasjon om eiendomsskatt for {year}",
     "Eiendomsskatten for {year} på eiendommen {address} er beregnet til {amount}. Beløpet "
     "faktureres i fire terminer sammen med de kommunale avgiftene. Skattegrunnlaget er hentet "
     "fra Skatteetatens formuesgrunnlag og redusert med bunnfradrag. Mener du at grunnlaget er "
     "feil, kan du klage innen seks uker fra utsendelsen av skatteseddelen. Klagen sendes "
     "Eiendomsskattekontoret. Referanse {ref}."),
    ("generell", "Bergen kommune, Servicetorget", "Kvittering for mottatt henvendelse",
     "Takk for henvendelsen din til Bergen kommune. Den er registrert {date} med referanse "
     "{ref} og sendt videre til riktig etat. Vi tar sikte på å svare innen tre uker. Trenger du "
     "å ettersende dokumentasjon, kan du gjøre det på Min side ved å oppgi referansen. "
     "Henvendelser som gjelder akutte forhold, må rettes til kommunens vakttelefon. "
     "Vennlig hilsen Servicetorget."),
    ("generell", "Bergen kommune, Etat for skole", "Påminnelse: søknadsfrist for SFO",
     "Hei {name}. Søknadsfristen for plass i skolefritidsordningen ved {school} for skoleåret "
     "{year} er {date}. Elever på første til fjerde trinn har rett til tolv timer gratis SFO "
     "i uken. Søknaden gjøres digitalt på Min side. Har du allerede plass og ønsker å beholde "
     "den, trenger du ikke søke på nytt. Endringer og oppsigelse må meldes innen den første "
     "i måneden, med én måneds varsel."),
]

CHANNELS_READ = ["portal"] * 10 + ["sms"] * 5 + ["webchat"] * 4 + ["rest"]
INVOICE_KINDS = (["kommunale avgifter"] * 8 + ["eiendomsskatt"] * 5 + ["barnehage"] * 4
                 + ["SFO"] * 3)


def _csv(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _norsk_date(day: date) -> str:
    months = ("januar februar mars april mai juni juli august september oktober november "
              "desember").split()
    return f"{day.day}. {months[day.month - 1]} {day.year}"


def _nok(ore: int) -> str:
    kroner = f"{ore // 100:,}".replace(",", " ")
    return f"{kroner},{ore % 100:02d} kr"


def _luhn_digit(number: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


# --------------------------------------------------------------------------------------------
# Row generators: each yields CSV text in chunks; ids are explicit and dense from 1.


def is_krr_reserved(citizen_id: int) -> bool:
    """About 4% of citizens are reserved against digital contact; stable per id."""
    return (citizen_id * 2654435761) % 1000 < 40


def fnr_of(citizen_id: int) -> str:
    """A unique 11-digit string per id (a bijection mod 9e10; not a valid fødselsnummer)."""
    return str(10_000_000_000 + (citizen_id * 7_777_777_777) % 90_000_000_000)


class Clocks:
    """Pre-rendered timestamp pieces: formatting millions of datetimes is the slow part."""

    def __init__(self, now: datetime, days_back: int, days_forward: int = 60):
        self.now = now
        self.origin = (now - timedelta(days=days_back)).replace(
            hour=0, minute=0, second=0, microsecond=0)
        self.origin_epoch = int(self.origin.timestamp())
        total = days_back + days_forward + 2
        self.days = [(self.origin + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(total)]
        self.tods = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
                     for s in range(SECONDS_PER_DAY)]

    def ts(self, epoch: int) -> str:
        off = epoch - self.origin_epoch
        if off < 0:
            raise ValueError("timestamp before the pre-rendered range")
        return f"{self.days[off // SECONDS_PER_DAY]} {self.tods[off % SECONDS_PER_DAY]}+00"


def citizen_chunks(n: int, now: datetime, seed: int, chunk: int = 20000) -> Iterator[str]:
    rng = random.Random(seed)
    clocks = Clocks(now, days_back=3700)
    start = clocks.origin_epoch
    span = int(now.timestamp()) - start
    langs = ["nb"] * 85 + ["nn"] * 8 + ["en"] * 7
    out: List[str] = []
    for cid in range(1, n + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if rng.random() < 0.3:
            name = f"{rng.choice(FIRST_NAMES)} {name}"
        mobile = "" if rng.random() < 0.08 else f"+47{rng.choice('49')}{cid * 7919 % 10_000_000:07d}"
        out.append(f"{cid},{fnr_of(cid)},{_csv(name)},{mobile},{rng.choice(langs)},"
                   f"{'t' if is_krr_reserved(cid) else 'f'},"
                   f"{clocks.ts(start + rng.randrange(span))}\n")
        if len(out) >= chunk:
            yield "".join(out)
            out = []
    if out:
        yield "".join(out)


def _letter_pool(rng: random.Random, month_start: date, size: int) -> List[Tuple[str, ...]]:
    """Pre-rendered (sender, title, body, category) CSV fragments for letters sent in the
    month starting at `month_start` (the dates in a letter follow its sending date)."""
    pool = []
    postcodes = ["5006", "5009", "5015", "5035", "5058", "5089", "5141", "5221"]
    for _ in range(size):
        category, sender, title, body = rng.choice(TEMPLATES)
        day = month_start + timedelta(days=rng.randrange(30))
        values = {
            "name": rng.choice(FIRST_NAMES),
            "address": f"{rng.choice(STREETS)} {rng.randrange(1, 140)}, "
                       f"{rng.choice(postcodes)} Bergen",
            "street": rng.choice(STREETS),
            "kg": rng.choice(KINDERGARTENS),
            "school": rng.choice(SCHOOLS),
            "date": _norsk_date(day + timedelta(days=rng.randrange(10, 40))),
            "date2": _norsk_date(day + timedelta(days=rng.randrange(40, 400))),
            "ref": f"{day.year}/{rng.randrange(1000, 99999)}-{rng.randrange(1, 12)}",
            "amount": _nok(rng.randrange(40_000, 250_000_000)),
            "year": str(day.year),
            "week": str(day.isocalendar()[1] % 52 + 1),
        }
        pool.append((_csv(sender.format(**values)), _csv(title.format(**values)),
                     _csv(body.format(**values)), category))
    return pool


def letter_chunks(n: int, n_citizens: int, now: datetime, seed: int,
                  chunk: int = 20000) -> Iterator[str]:
    """Letters in arrival order over the last two years (so one citizen's letters are spread
    over the heap, as in production), ~30% without a digital read."""
    rng = random.Random(seed + 1)
    clocks = Clocks(now, days_back=735)
    now_epoch = int(now.timestamp())
    start = now_epoch - 730 * SECONDS_PER_DAY
    month = 30 * SECONDS_PER_DAY
    per_month = 800
    pools = [_letter_pool(rng, datetime.fromtimestamp(start + m * month, timezone.utc).date(),
                          per_month) for m in range(730 // 30 + 1)]
    step = (730 * SECONDS_PER_DAY) / n
    week = 7 * SECONDS_PER_DAY
    ts = clocks.ts
    rand = rng.random
    randrange = rng.randrange
    channels = CHANNELS_READ
    p_read = 0.729  # with ~4% KRR-reserved (never read digitally) gives ~30% unread overall
    out: List[str] = []
    for lid in range(1, n + 1):
        cid = randrange(1, n_citizens + 1)
        sent = start + int(lid * step) + randrange(60)
        if sent > now_epoch - 60:
            sent = now_epoch - 60
        sender, title, body, category = pools[(sent - start) // month][randrange(per_month)]
        ext = "" if rand() < 0.1 else f"SVARUT-{lid:08d}"
        notified = read_at = read_via = to_print = printed = ""
        if is_krr_reserved(cid):
            due = sent
            status = "PRINTET"
            to_print = ts(sent)
            printed = ts(min(sent + SECONDS_PER_DAY, now_epoch))
        else:
            due = sent + week
            notified = ts(sent + 120)
            read_epoch = sent + int(rand() * rand() * (week - 3600)) + 300
            if rand() < p_read and read_epoch < now_epoch:
                status = "LEST"
                read_at = ts(read_epoch)
                read_via = channels[randrange(20)]
            elif due <= now_epoch:
                to_print = ts(due)
                if due + SECONDS_PER_DAY <= now_epoch:
                    status = "PRINTET"
                    printed = ts(due + SECONDS_PER_DAY)
                else:
                    status = "SENDT_PRINT"
            else:
                status = "VARSLET"
        out.append(f"{lid},{cid},{sender},{ext},{title},{body},{category},{status},{ts(sent)},"
                   f"{ts(due)},{notified},{read_at},{read_via},{to_print},{printed}\n")
        if len(out) >= chunk:
            yield "".join(out)
            out = []
    if out:
        yield "".join(out)


def invoice_chunks(n_citizens: int, per_citizen: float, now: datetime, seed: int,
                   chunk: int = 20000) -> Iterator[str]:
    """~per_citizen invoices each, due over the last two years and the next month, stored in
    due-date order (invoices are issued in batch runs, so a citizen's are spread out)."""
    rng = random.Random(seed + 2)
    today = now.date()
    first = today - timedelta(days=730)
    span = 760
    # 0..4 invoices per citizen, mean 1.95 at per_citizen=2; scaled for other means.
    weights = [0.10, 0.25, 0.35, 0.20, 0.10]
    counts = rng.choices(range(5), weights=weights, k=n_citizens)
    scale = per_citizen / 1.95
    rows = []
    for cid, k in enumerate(counts, start=1):
        k = int(k * scale + rng.random()) if scale != 1 else k
        for _ in range(k):
            rows.append((rng.randrange(span), cid))
    rows.sort()
    clocks = Clocks(now, days_back=760)
    now_epoch = int(now.timestamp())
    amounts = {"kommunale avgifter": (150_000, 650_000), "eiendomsskatt": (80_000, 900_000),
               "barnehage": (60_000, 315_000), "SFO": (90_000, 330_000)}
    terms = {1: "termin 1", 2: "termin 1", 3: "termin 1", 4: "termin 2", 5: "termin 2",
             6: "termin 2", 7: "termin 3", 8: "termin 3", 9: "termin 3", 10: "termin 4",
             11: "termin 4", 12: "termin 4"}
    out: List[str] = []
    for iid, (day_off, cid) in enumerate(rows, start=1):
        due = first + timedelta(days=day_off)
        kind = INVOICE_KINDS[rng.randrange(20)]
        lo, hi = amounts[kind]
        amount = rng.randrange(lo, hi) // 100 * 100
        period = (f"{due.year}-{due.month:02d}" if kind in ("barnehage", "SFO")
                  else f"{due.year} {terms[due.month]}")
        kid_body = f"{cid:08d}{iid % 1_000_000:06d}"
        kid = kid_body + _luhn_digit(kid_body)
        overdue = due < today
        paid = rng.random() < (0.93 if overdue else 0.3)
        if paid:
            paid_epoch = int(datetime(due.year, due.month, due.day, 12, tzinfo=timezone.utc)
                             .timestamp()) - rng.randrange(-10, 20) * SECONDS_PER_DAY
            paid_at = clocks.ts(min(paid_epoch, now_epoch - 60))
            status = "paid"
        else:
            paid_at, status = "", "unpaid"
        out.append(f"{iid},{cid},{kind},{period},{amount},{due.isoformat()},{kid},"
                   f"{MUNICIPALITY_ACCOUNT},{status},{paid_at}\n")
        if len(out) >= chunk:
            yield "".join(out)
            out = []
    if out:
        yield "".join(out)


class ChunkReader(io.RawIOBase):
    """A file-like view of a generator of text chunks, for psycopg2's copy_expert."""

    def __init__(self, chunks: Iterator[str], label: str, expected_rows: int):
        self.chunks = chunks
        self.buffer = b""
        self.label = label
        self.expected = expected_rows
        self.rows = 0
        self.started = time.perf_counter()
        self.last_report = self.started

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            try:
                text_chunk = next(self.chunks)
            except StopIteration:
                break
            self.rows += text_chunk.count("\n")  # bodies hold no newlines: one per row
            self.buffer += text_chunk.encode("utf-8")
            self._progress()
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _progress(self) -> None:
        now = time.perf_counter()
        if now - self.last_report >= 10:
            self.last_report = now
            rate = self.rows / (now - self.started)
            print(f"  {self.label}: {self.rows:,}/{self.expected:,} rows "
                  f"({rate:,.0f} rows/s)", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Loading


@dataclass
class FillSpec:
    citizens: int
    letters: int
    invoices_per_citizen: float
    seed: int
    version: int = DATA_VERSION

    def key(self) -> dict:
        return asdict(self)


@dataclass
class FillReport:
    reused: bool
    spec: dict
    row_counts: Dict[str, int]
    seconds: Dict[str, float]
    total_seconds: float
    loaded_at: str
    table_sizes: Dict[str, str]


def schema_url(base_url: str, schema: str) -> str:
    url = make_url(base_url)
    query = dict(url.query)
    query["options"] = f"-csearch_path={schema}"
    return url.set(query=query).render_as_string(hide_password=False)


def _connect(base_url: str, schema: Optional[str] = None):
    url = make_url(base_url)
    kwargs = dict(host=url.host or "127.0.0.1", port=url.port or 5432,
                  user=url.username or "postgres", dbname=url.database)
    if url.password:
        kwargs["password"] = url.password
    if schema:
        kwargs["options"] = f"-csearch_path={schema}"
    return psycopg2.connect(**kwargs)


def read_fill_marker(base_url: str, schema: str) -> Optional[dict]:
    conn = _connect(base_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace "
                        "WHERE nspname = %s", (schema,))
            row = cur.fetchone()
    finally:
        conn.close()
    if not row or not row[0]:
        return None
    try:
        return json.loads(row[0])
    except ValueError:
        return None


@contextmanager
def _timed(seconds: Dict[str, float], label: str) -> Iterator[None]:
    """Times one load step into `seconds[label]`, with progress on stderr."""
    started = time.perf_counter()
    print(f"  {label} …", file=sys.stderr, flush=True)
    yield
    seconds[label] = round(time.perf_counter() - started, 2)
    print(f"  {label}: {seconds[label]:.1f} s", file=sys.stderr, flush=True)


def fill(base_url: str, schema: str, spec: FillSpec, *, refill: bool,
         now: Optional[datetime] = None) -> FillReport:
    """Makes `schema` hold a migrated, filled portal database of the given size."""
    if not schema.startswith("bench"):
        raise SystemExit(f"refusing to manage schema {schema!r}: its name must start with 'bench'")
    url = schema_url(base_url, schema)
    marker = None if refill else read_fill_marker(base_url, schema)
    if marker and marker.get("spec") == spec.key():
        # Reuse: still bring the schema to the migrations' head (a new index migration
        # then applies to the filled tables).
        engine = create_engine(url, future=True)
        upgrade(engine)
        engine.dispose()
        return FillReport(reused=True, spec=spec.key(), row_counts=marker["row_counts"],
                          seconds=marker["seconds"], total_seconds=marker["total_seconds"],
                          loaded_at=marker["loaded_at"], table_sizes=_table_sizes(base_url, schema))

    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    seconds: Dict[str, float] = {}
    started = time.perf_counter()
    print(f"Filling schema {schema!r}: {spec.citizens:,} citizens, {spec.letters:,} letters, "
          f"~{spec.invoices_per_citizen:g} invoices per citizen", file=sys.stderr, flush=True)
    admin = _connect(base_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        cur.execute(f'CREATE SCHEMA "{schema}"')
    admin.close()

    with _timed(seconds, "migrations"):
        engine = create_engine(url, future=True)
        upgrade(engine)
        engine.dispose()

    conn = _connect(base_url, schema)
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '1GB'")
            cur.execute("SET synchronous_commit = off")
            deferred = _drop_secondary(cur, schema)
            conn.commit()

            columns = {
                "citizens": "id, fnr, name, mobile, language, krr_reserved, created_at",
                "letters": "id, citizen_id, sender_unit, external_id, title, body, category, "
                           "status, sent_at, print_due_at, notified_at, read_at, read_via, "
                           "sent_to_print_at, printed_at",
                "invoices": "id, citizen_id, kind, period, amount_ore, due_date, kid, "
                            "account_number, status, paid_at",
            }
            sources = {
                "citizens": (citizen_chunks(spec.citizens, now, spec.seed), spec.citizens),
                "letters": (letter_chunks(spec.letters, spec.citizens, now, spec.seed),
                            spec.letters),
                "invoices": (invoice_chunks(spec.citizens, spec.invoices_per_citizen, now,
                                            spec.seed),
                             int(spec.citizens * spec.invoices_per_citizen)),
            }
            for table in BULK_TABLES:
                chunks, expected = sources[table]
                with _timed(seconds, f"copy {table}"):
                    reader = ChunkReader(chunks, table, expected)
                    cur.copy_expert(f"COPY {table} ({columns[table]}) FROM STDIN WITH (FORMAT csv)",
                                    reader, size=1 << 20)
                    conn.commit()

            with _timed(seconds, "indexes and constraints"):
                for statement in deferred:
                    cur.execute(statement)
                for table in BULK_TABLES:
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT coalesce(max(id), 1) FROM {table}))")
                conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            with _timed(seconds, "vacuum analyze"):
                cur.execute("VACUUM (ANALYZE)")
            with _timed(seconds, "checkpoint"):
                cur.execute("CHECKPOINT")
            counts = {}
            for table in BULK_TABLES:
                cur.execute(f"SELECT count(*) FROM {table}")
                counts[table] = cur.fetchone()[0]
    finally:
        conn.close()

    total = round(time.perf_counter() - started, 1)
    report = FillReport(reused=False, spec=spec.key(), row_counts=counts, seconds=seconds,
                        total_seconds=total, loaded_at=now.isoformat(),
                        table_sizes=_table_sizes(base_url, schema))
    marker = {"spec": spec.key(), "row_counts": counts, "seconds": seconds,
              "total_seconds": total, "loaded_at": now.isoformat()}
    admin = _connect(base_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'COMMENT ON SCHEMA "{schema}" IS %s', (json.dumps(marker),))
    admin.close()
    return report


def _drop_secondary(cur, schema: str) -> List[str]:
    """Drops the bulk tables' foreign keys, unique constraints and secondary indexes.

    Returns the statements that re-create them, taken from the catalog (i.e. from the
    migrations), so that what is measured is exactly what the migrations define."""
    cur.execute("""
        SELECT con.conname, cl.relname, pg_get_constraintdef(con.oid), con.contype
        FROM pg_constraint con
        JOIN pg_class cl ON cl.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = cl.relnamespace
        WHERE n.nspname = %s AND cl.relname = ANY(%s) AND con.contype IN ('u', 'f', 'x')
    """, (schema, list(BULK_TABLES)))
    constraints = cur.fetchall()
    cur.execute("""
        SELECT ic.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class tc ON tc.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = tc.relnamespace
        WHERE n.nspname = %s AND tc.relname = ANY(%s) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                          AND c.contype IN ('u', 'x', 'p'))
    """, (schema, list(BULK_TABLES)))
    indexes = cur.fetchall()
    recreate: List[str] = []
    for name, table, definition, _kind in constraints:
        cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, definition in indexes:
        cur.execute(f'DROP INDEX "{name}"')
        recreate.append(definition)
    # Unique constraints first (they carry indexes), foreign keys last (they validate).
    for name, table, definition, kind in sorted(constraints, key=lambda c: c[3] == "f"):
        recreate.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    return recreate


def _table_sizes(base_url: str, schema: str) -> Dict[str, str]:
    conn = _connect(base_url, schema)
    try:
        with conn.cursor() as cur:
            sizes = {}
            for table in BULK_TABLES + ("audit_events", "citizen_sessions"):
                cur.execute("SELECT pg_size_pretty(pg_table_size(%s)), "
                            "pg_size_pretty(pg_indexes_size(%s))", (table, table))
                heap, idx = cur.fetchone()
                sizes[table] = f"{heap} heap + {idx} indexes"
            return sizes
    finally:
        conn.close()
