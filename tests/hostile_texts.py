"""Hypothesis strategies for the hostile texts a citizen's phone or browser can send: very long
texts, control characters, bidirectional marks, emoji sequences, only whitespace, numbers that
look like a fødselsnummer or a code, and mixtures of them with ordinary Norwegian."""
from __future__ import annotations

from hypothesis import strategies as st

CONTROL = [chr(c) for c in range(0x00, 0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
BIDI = ["\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066",
        "\u2067", "\u2068", "\u2069", "\u061c"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f"]
WHITESPACE = [" ", "\t", "\n", "\r", "\u00a0", "\u2007", "\u202f", "\u3000", "\u2028",
              "\u2029", "\x0b", "\x0c"]
EMOJI = ["😀", "👍🏽", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🇳🇴", "❤️", "🧑🏿‍💻", "\U0001fae0", "1️⃣"]
WORDS = ["logg inn", "brev", "les 1", "faktura", "JA", "NEI", "STOPP", "START", "HJELP", "MER",
         "ja takk", "svar på brev 2", "skriv til kommunen", "barnehage", "Hei!", "æøå ÆØÅ",
         "kva har eg fått", "show my invoices", "١٢٣", "שלום", "مرحبا", "ｌｏｇｇ ｉｎｎ"]


@st.composite
def fnr_like(draw) -> str:
    """Eleven digits (valid or not), spaced or dotted the ways people write them."""
    digits = draw(st.text(alphabet="0123456789", min_size=11, max_size=11))
    date, person = digits[:6], digits[6:]
    return draw(st.sampled_from([digits, f"{date} {person}", f"{date}-{person}",
                                 f"{date[:2]}.{date[2:4]}.{date[4:]} {person}"]))


def _piece():
    return st.one_of(
        st.sampled_from(WORDS), st.sampled_from(EMOJI), fnr_like(),
        st.text(alphabet="0123456789", min_size=4, max_size=8),     # code-like
        st.text(st.sampled_from(CONTROL), min_size=1, max_size=8),
        st.text(st.sampled_from(BIDI + INVISIBLE), min_size=1, max_size=8),
        st.text(st.sampled_from(WHITESPACE), min_size=1, max_size=8),
        # Any character a phone can send (no lone surrogates: they cannot be UTF-8 encoded).
        st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    )


@st.composite
def hostile_texts(draw, long: int = 10_000) -> str:
    """One hostile message; about one in eight is `long` characters or more."""
    kind = draw(st.integers(0, 7))
    if kind == 0:
        unit = draw(st.sampled_from(["a", "æ", "😀", "9", " ", "\u202e", "ø\u0301"]))
        return unit * (long // len(unit))
    if kind == 1:
        return "".join(draw(st.lists(st.sampled_from(WHITESPACE), min_size=1, max_size=30)))
    return "".join(draw(st.lists(_piece(), min_size=1, max_size=6)))
