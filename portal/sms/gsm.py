"""SMS formatting for the Twilio SMS channel.

Pure standard-library helpers that turn bot output into SMS-friendly text:

* GSM-7 (3GPP TS 23.038) detection, sanitising and Twilio-style segment counting.
* Rasa buttons rendered as numbered choices, and numeric replies mapped back
  to button payloads.
* Splitting long answers into a head that fits a segment budget plus a
  "reply MORE for the rest" suffix, with the remainder kept for later.

User-facing strings are Norwegian bokmål by default, with nynorsk ("nn") and
English ("en") variants.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal, Mapping, Sequence

# --------------------------------------------------------------------------
# GSM 03.38 / 3GPP TS 23.038 character sets
# --------------------------------------------------------------------------

# Basic character set, written row by row in code-point order 0x00-0x7F.
# Position 0x1B is the escape to the extension table and is not a character.
GSM7_BASIC: str = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ" "ÆæßÉ"  # 0x10-0x1F (0x1B = ESC omitted)
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50-0x5F
    "¿abcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyzäöñüà"  # 0x70-0x7F
)

# Extension table (each character costs ESC + char = 2 septets):
# 0x0A form feed, 0x14 ^, 0x28 {, 0x29 }, 0x2F \, 0x3C [, 0x3D ~, 0x3E ],
# 0x40 |, 0x65 €.
GSM7_EXTENSION: str = "\f^{}\\[~]|€"

_GSM7_BASIC_SET: frozenset[str] = frozenset(GSM7_BASIC)
_GSM7_EXTENSION_SET: frozenset[str] = frozenset(GSM7_EXTENSION)
_GSM7_SET: frozenset[str] = _GSM7_BASIC_SET | _GSM7_EXTENSION_SET

# Twilio segment sizes.
GSM7_SINGLE_SEPTETS = 160
GSM7_MULTI_SEPTETS = 153
UCS2_SINGLE_UNITS = 70
UCS2_MULTI_UNITS = 67

Encoding = Literal["GSM-7", "UCS-2"]


# --------------------------------------------------------------------------
# Sanitising
# --------------------------------------------------------------------------

_SPACES = (
    "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
)

# Explicit replacements for common characters that would force UCS-2.
# Characters missing here fall back to Unicode decomposition or removal.
_REPLACEMENTS: dict[str, str] = {
    **{c: "'" for c in "\u2018\u2019\u201a\u201b\u2032\u2035\u00b4`\u2039\u203a"},
    **{c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb"},
    **{c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"},
    **{c: "-" for c in "\u2022\u2023\u2043\u2219\u00b7\u25cf\u25e6\u25aa\u25a0"},
    **{c: " " for c in _SPACES},
    **{c: "\n" for c in "\u2028\u2029\u0085\u000b"},
    "\u2026": "...",
    "\u2044": "/",
    "\u00d7": "x",
    "\u00ad": "",  # soft hyphen: invisible, drop it
    # Letters that Unicode does not decompose (Nordic, Sami and a few others).
    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D",
    "ŋ": "n", "Ŋ": "N", "ŧ": "t", "Ŧ": "T",
    "ł": "l", "Ł": "L", "ı": "i",
    "þ": "th", "Þ": "Th", "œ": "oe", "Œ": "OE", "ẞ": "SS",
}

_REMOVED = "\x00"  # internal marker; never survives sanitize()
_REMOVAL_RUN = re.compile(r"[ \x00]*\x00[ \x00]*")


def _decompose(char: str) -> str:
    """Return the GSM-7 approximation of a character via NFKD, or the removal marker."""
    parts = [c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)]
    mapped = "".join(c if c in _GSM7_SET else _REPLACEMENTS.get(c, _REMOVED) for c in parts)
    mapped = mapped.replace(_REMOVED, "")
    if not mapped.strip() and unicodedata.category(char) != "Zs":
        return _REMOVED  # e.g. emoji, CJK, or spacing accents like "¨" that decompose to a space
    return mapped


def _sanitize_char(char: str) -> str:
    """Map one character to GSM-7 text, or to the removal marker."""
    if char in _GSM7_SET:
        return char
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    return _decompose(char)


def _collapse_removal(match: re.Match[str]) -> str:
    """Collapse spaces around removed characters to at most one space."""
    text, start, end = match.string, match.start(), match.end()
    at_line_start = start == 0 or text[start - 1] in "\n\r"
    at_line_end = end == len(text) or text[end] in "\n\r"
    if at_line_start or at_line_end or " " not in match.group():
        return ""
    return " "


def sanitize(text: str) -> str:
    """Return text with every character mapped to GSM-7 (approximated or removed)."""
    marked = "".join(_sanitize_char(c) for c in unicodedata.normalize("NFC", text))
    return _REMOVAL_RUN.sub(_collapse_removal, marked)


def is_gsm7(text: str) -> bool:
    """Return True if every character of text is in the GSM-7 basic or extension table."""
    return all(c in _GSM7_SET for c in text)


def encoding(text: str) -> Encoding:
    """Return the encoding Twilio will use for text: "GSM-7" or "UCS-2"."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


# --------------------------------------------------------------------------
# Segment counting
# --------------------------------------------------------------------------


def _char_cost(char: str, enc: Encoding) -> int:
    """Return the cost of one character: septets for GSM-7, UTF-16 code units for UCS-2."""
    if enc == "GSM-7":
        return 2 if char in _GSM7_EXTENSION_SET else 1
    return 2 if ord(char) > 0xFFFF else 1


def message_length(text: str) -> int:
    """Return the length of text in septets (GSM-7) or UTF-16 code units (UCS-2)."""
    enc = encoding(text)
    return sum(_char_cost(c, enc) for c in text)


def _segment_starts(text: str) -> list[int]:
    """Return the index where each segment starts, never splitting escape or surrogate pairs."""
    enc = encoding(text)
    costs = [_char_cost(c, enc) for c in text]
    single, multi = (
        (GSM7_SINGLE_SEPTETS, GSM7_MULTI_SEPTETS)
        if enc == "GSM-7"
        else (UCS2_SINGLE_UNITS, UCS2_MULTI_UNITS)
    )
    if sum(costs) <= single:
        return [0]
    starts, used = [0], 0
    for index, cost in enumerate(costs):
        if used + cost > multi:
            starts.append(index)
            used = 0
        used += cost
    return starts


def split_segments(text: str) -> list[str]:
    """Split text into the segments Twilio would send."""
    starts = _segment_starts(text)
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def count_segments(text: str) -> int:
    """Return the number of SMS segments Twilio bills for text (an empty body counts as 1)."""
    return len(_segment_starts(text))


# --------------------------------------------------------------------------
# Language helpers
# --------------------------------------------------------------------------

_LANGUAGE_ALIASES: dict[str, str] = {
    "nb": "nb", "no": "nb", "nob": "nb",
    "nn": "nn", "nno": "nn",
    "en": "en", "eng": "en",
}


def normalize_language(language: str | None) -> str:
    """Return "nb", "nn" or "en" for a language tag, defaulting to "nb"."""
    primary = re.split(r"[-_]", (language or "").strip().lower(), maxsplit=1)[0]
    return _LANGUAGE_ALIASES.get(primary, "nb")


# --------------------------------------------------------------------------
# Buttons as numbered choices
# --------------------------------------------------------------------------

_REPLY_WORD = {"nb": "Svar", "nn": "Svar", "en": "Reply"}
_LIST_INTRO = {
    "nb": "Svar med tallet for valget ditt:",
    "nn": "Svar med talet for valet ditt:",
    "en": "Reply with the number of your choice:",
}
MAX_INLINE_BUTTONS = 3

_CHOICE_REPLY = re.compile(r"([0-9]+)[.)]?", re.ASCII)


def _button_title(button: Mapping[str, object]) -> str:
    """Return a button's title on one line, falling back to its payload."""
    title = str(button.get("title") or button.get("payload") or "")
    return " ".join(title.split())


def _inline_choices(titles: Sequence[str], lang: str) -> str:
    """Return a one-line prompt such as "Svar 1 for Ja, 2 for Nei."."""
    line = f"{_REPLY_WORD[lang]} " + ", ".join(f"{i} for {t}" for i, t in enumerate(titles, 1))
    return line if line.endswith((".", "!", "?")) else line + "."


def _listed_choices(titles: Sequence[str], lang: str) -> str:
    """Return an intro line followed by one "N: title" line per choice."""
    return "\n".join([_LIST_INTRO[lang], *(f"{i}: {t}" for i, t in enumerate(titles, 1))])


def render_buttons(
    text: str, buttons: Sequence[Mapping[str, object]] | None, language: str = "nb"
) -> str:
    """Return text followed by the buttons rendered as numbered reply choices."""
    body = (text or "").strip()
    titles = [_button_title(b) for b in buttons or []]
    if not titles:
        return body
    lang = normalize_language(language)
    if len(titles) <= MAX_INLINE_BUTTONS:
        choices = _inline_choices(titles, lang)
    else:
        choices = _listed_choices(titles, lang)
    return f"{body}\n{choices}" if body else choices


def choice_payload(reply: str | None, buttons: Sequence[Mapping[str, object]] | None) -> str | None:
    """Return the payload of the button chosen by a numeric reply like "2" or " 2. ", else None."""
    match = _CHOICE_REPLY.fullmatch((reply or "").strip())
    if not match or not buttons:
        return None
    index = int(match.group(1))
    if not 1 <= index <= len(buttons):
        return None
    button = buttons[index - 1]
    payload = button.get("payload") or button.get("title")
    return str(payload) if payload else None


# --------------------------------------------------------------------------
# Fitting long text into a segment budget
# --------------------------------------------------------------------------

MORE_SUFFIX = {
    "nb": "\nSvar MER for resten.",
    "nn": "\nSvar MER for resten.",
    "en": "\nReply MORE for the rest.",
}

# Punctuation ending a sentence (optionally followed by closing quotes/brackets) and a space.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?= )")
_NEXT_CHAR = re.compile(r" +(\S)")

# Abbreviations whose trailing dot does not end a sentence (lower case, without final dot).
_ABBREVIATIONS = frozenset({
    "kl", "ca", "nr", "tlf", "jf", "evt", "ev", "dvs", "pga", "iht", "ift", "bl.a",
    "f.eks", "t.o.m", "f.o.m", "m.a", "t.d", "o.a", "st", "dr", "mr", "mrs", "ms",
    "e.g", "i.e", "vs", "approx",
})


def _is_sentence_end(text: str, match: re.Match[str]) -> bool:
    """Return True if a punctuation match really ends a sentence (not "kl. 10" or "f.eks. her")."""
    if set(match.group().rstrip("\"')]")) != {"."}:
        return True  # "!" or "?" always ends a sentence
    following = _NEXT_CHAR.match(text, match.end())
    if following and following.group(1).islower():
        return False
    word_start = max(text.rfind(" ", 0, match.start()), text.rfind("\n", 0, match.start())) + 1
    word = text[word_start : match.start()].lstrip("(\"'[").lower()
    return word not in _ABBREVIATIONS


def _sentence_cuts(text: str, limit: int) -> list[tuple[int, int]]:
    """Return (head_end, rest_start) pairs for sentence ends and newlines with head_end <= limit."""
    ends = _SENTENCE_END.finditer(text, 0, limit + 1)
    cuts = [(m.end(), m.end() + 1) for m in ends if _is_sentence_end(text, m)]
    return cuts + [(i, i + 1) for i, c in enumerate(text[: limit + 1]) if c == "\n"]


def _word_cuts(text: str, limit: int) -> list[tuple[int, int]]:
    """Return (head_end, rest_start) pairs for every space at or before limit."""
    return [(i, i + 1) for i, c in enumerate(text[: limit + 1]) if c == " "]


def _head_fits(head: str, suffix: str, max_segments: int) -> bool:
    """Return True if a non-empty head plus the suffix fits within max_segments."""
    return bool(head) and count_segments(head + suffix) <= max_segments


def _best_cut(
    text: str, cuts: list[tuple[int, int]], suffix: str, max_segments: int
) -> tuple[str, str] | None:
    """Return (head, rest) for the latest cut whose head fits, or None."""
    for head_end, rest_start in sorted(cuts, reverse=True):
        head = text[:head_end].rstrip()
        if _head_fits(head, suffix, max_segments):
            return head, text[rest_start:]
    return None


def _hard_cut(text: str, suffix: str, max_segments: int) -> tuple[str, str]:
    """Return (head, rest) cut at the longest prefix that fits, ignoring word boundaries."""
    capacity = GSM7_SINGLE_SEPTETS * max_segments
    for end in range(min(len(text), capacity), 0, -1):
        if _head_fits(text[:end], suffix, max_segments):
            return text[:end], text[end:]
    raise ValueError("max_segments is too small to hold any text plus the MORE suffix")


def fit(text: str, max_segments: int = 3, language: str = "nb") -> tuple[str, str | None]:
    """Return (sms_text, remainder): sanitized text cut to max_segments with a MORE suffix if needed."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    clean = sanitize(text or "").strip()
    if count_segments(clean) <= max_segments:
        return clean, None
    suffix = MORE_SUFFIX[normalize_language(language)]
    limit = GSM7_SINGLE_SEPTETS * max_segments  # no head can be longer than this
    cut = (
        _best_cut(clean, _sentence_cuts(clean, limit), suffix, max_segments)
        or _best_cut(clean, _word_cuts(clean, limit), suffix, max_segments)
        or _hard_cut(clean, suffix, max_segments)
    )
    head, rest = cut
    return head + suffix, rest.strip() or None
