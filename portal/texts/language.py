"""Which language a citizen writes in: bokmål, nynorsk or English, from short messages."""
from __future__ import annotations

import re
from typing import Optional

NB, NN, EN = "nb", "nn", "en"

# Words that tell one language from the others in short SMS-style messages.
MARKERS = {
    NN: {
        "eg", "ikkje", "kva", "korleis", "kvar", "kven", "sjå", "sja", "berre", "noko",
        "nokon", "dykk", "breva", "meldingane", "fakturaane", "rekningane", "rekning",
        "skuldar", "ynskjer", "ønskjer", "onskjer", "vere", "hjå", "eit", "ein", "heile",
        "mykje", "vert", "blir", "takkar", "tilbodet", "tilbod", "plassen", "fødselsnummeret",
        "seia", "seie", "snakka", "gjer", "kjem", "då", "no", "heim", "sakshandsamar",
        "nynorsk", "hugs", "ver", "venleg", "venlegast", "heisann", "høyr", "korfor",
        "samtala",
    },
    NB: {
        "jeg", "ikke", "hva", "hvordan", "hvor", "hvem", "se", "bare", "noe", "noen",
        "dere", "brevene", "meldingene", "fakturaene", "skylder", "ønsker", "onsker",
        "være", "vaere", "hele", "mye", "takker", "tilbudet", "tilbud", "saksbehandler",
        "vennligst", "hvorfor", "gjør", "gjor", "kommer", "nå", "naa", "hjem", "bokmål",
        "mine", "mitt", "vis", "les", "meg", "har", "jeg vil", "takk", "nei", "ja",
        "hei", "logg", "inn", "ut", "betalte", "ubetalte", "nye", "brev", "kode", "koden",
    },
    EN: {
        "i", "my", "me", "the", "what", "show", "please", "hello", "hi", "hey", "thanks",
        "thank", "you", "letters", "letter", "invoice", "invoices", "bills", "bill", "read",
        "log", "login", "want", "yes", "accept", "decline", "help", "bye", "goodbye", "code",
        "is", "do", "have", "kindergarten", "place", "offer", "open", "new", "messages",
        "message", "pay", "paid", "unpaid", "to", "with", "person", "human", "talk", "agent",
        "good", "morning", "can", "how", "english", "owe", "out", "number", "inbox", "mail",
        "id", "birth", "a", "an", "of", "and", "it", "okay", "sure", "nope", "don't", "dont",
        "delete", "conversation", "chat",
    },
}
# Words any citizen may use in a short reply: they never switch an established language.
WEAK = {"ja", "nei", "takk", "hei", "les", "brev", "kode", "ok", "no", "a", "i", "me"}
TOKEN = re.compile(r"[a-zæøåéü']+")


def detect(text: str, previous: Optional[str] = None) -> str:
    """The most likely language; ties and texts without markers keep the previous language."""
    words = TOKEN.findall((text or "").lower())
    if previous:
        words = [w for w in words if w not in WEAK]
    if not words:
        return previous or NB
    scores = {lang: sum(1 for w in words if w in markers) for lang, markers in MARKERS.items()}
    # Nynorsk shares most words with bokmål: its own markers decide between the two.
    if scores[NN] and scores[NN] >= scores[NB] - 1 and scores[NN] >= scores[EN]:
        return NN
    best = max(scores.values())
    if best == 0:
        return previous or NB
    leaders = [lang for lang, score in scores.items() if score == best]
    if len(leaders) > 1:
        return previous if previous in leaders else leaders[0]
    return leaders[0]


# Asking for a language outright ("på nynorsk", "in English", "kan du skrive engelsk?").
ASKED = {NN: {"nynorsk"}, NB: {"bokmål", "bokmal", "norsk"}, EN: {"english", "engelsk"}}


def requested(text: str) -> Optional[str]:
    """The language a message asks for by name, if it names exactly one."""
    words = set(TOKEN.findall((text or "").lower()))
    named = [lang for lang, names in ASKED.items() if words & names]
    return named[0] if len(named) == 1 else None
