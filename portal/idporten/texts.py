"""What the citizen reads during an ID-porten login, in bokmål, nynorsk and English."""
from __future__ import annotations

LANGUAGES = ("nb", "nn", "en")

TEXTS = {
    "logged_in": {
        "nb": "Du er logget inn med ID-porten, {first_name}. Skriv BREV for å lese brevene dine.",
        "nn": "Du er logga inn med ID-porten, {first_name}. Skriv BREV for å lese breva dine.",
        "en": "You are logged in with ID-porten, {first_name}. Write LETTERS to read your letters.",
    },
    "title": {"nb": "Innlogging med ID-porten", "nn": "Innlogging med ID-porten",
              "en": "Login with ID-porten"},
    "back": {"nb": "Tilbake til chatten", "nn": "Tilbake til chatten", "en": "Back to the chat"},
    "invalid_ticket": {
        "nb": "Lenken til innlogging er ugyldig eller utløpt. Gå tilbake til chatten og prøv igjen.",
        "nn": "Lenkja til innlogging er ugyldig eller gått ut. Gå tilbake til chatten og prøv igjen.",
        "en": "The login link is invalid or has expired. Go back to the chat and try again.",
    },
    "invalid_state": {
        "nb": "Innloggingen er allerede brukt, utløpt eller ukjent. Start innloggingen på nytt fra chatten.",
        "nn": "Innlogginga er alt brukt, gått ut eller ukjend. Start innlogginga på nytt frå chatten.",
        "en": "This login was already used, has expired or is unknown. Start again from the chat.",
    },
    "cancelled": {
        "nb": "Innloggingen ble avbrutt. Du kan prøve igjen fra chatten.",
        "nn": "Innlogginga vart avbroten. Du kan prøve igjen frå chatten.",
        "en": "The login was cancelled. You can try again from the chat.",
    },
    "refused": {
        "nb": "Vi kunne ikke bekrefte innloggingen fra ID-porten. Du er ikke logget inn. Prøv igjen fra chatten.",
        "nn": "Vi kunne ikkje stadfeste innlogginga frå ID-porten. Du er ikkje logga inn. Prøv igjen frå chatten.",
        "en": "We could not confirm the login from ID-porten. You are not logged in. Try again from the chat.",
    },
    "too_low": {
        "nb": "Innloggingen hadde for lavt sikkerhetsnivå. Logg inn med MinID, BankID eller et annet eID på nivå høyt eller betydelig.",
        "nn": "Innlogginga hadde for lågt tryggleiksnivå. Logg inn med MinID, BankID eller ein annan eID på nivå høgt eller betydeleg.",
        "en": "The login had too low a level of assurance. Log in with an eID on level substantial or high.",
    },
    "unknown_citizen": {
        "nb": "Vi finner deg ikke blant kommunens innbyggere, så du kan ikke logge inn her.",
        "nn": "Vi finn deg ikkje blant innbyggjarane i kommunen, så du kan ikkje logge inn her.",
        "en": "We cannot find you among the municipality's residents, so you cannot log in here.",
    },
    "unavailable": {
        "nb": "ID-porten svarer ikke akkurat nå. Prøv igjen om litt, eller logg inn med engangskode på SMS.",
        "nn": "ID-porten svarar ikkje akkurat no. Prøv igjen om litt, eller logg inn med eingongskode på SMS.",
        "en": "ID-porten is not answering right now. Try again shortly, or log in with a one-time SMS code.",
    },
    "not_configured": {
        "nb": "Innlogging med ID-porten er ikke slått på.",
        "nn": "Innlogging med ID-porten er ikkje slått på.",
        "en": "Login with ID-porten is not switched on.",
    },
}


def language_of(value) -> str:
    return value if value in LANGUAGES else "nb"


def text(key: str, language: str, **values) -> str:
    return TEXTS[key][language_of(language)].format(**values)
