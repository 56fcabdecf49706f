"""The staff pages' words in bokmål (default) and English."""
from __future__ import annotations

LANGUAGES = ("nb", "en")
DEFAULT = "nb"

TEXTS = {
    "workspace": ("Saksbehandling", "Caseworker workspace"),
    "skip": ("Hopp til hovedinnhold", "Skip to main content"),
    "nav_label": ("Hovedmeny", "Main menu"),
    "nav_home": ("Samtalekø", "Conversation queue"),
    "nav_staff": ("Ansatte", "Staff"),
    "role_caseworker": ("Saksbehandler", "Caseworker"),
    "role_admin": ("Administrator", "Administrator"),
    "signed_in_as": ("Innlogget som {name} ({role})", "Signed in as {name} ({role})"),
    "logout": ("Logg ut", "Log out"),
    "language": ("Språk", "Language"),
    "switch_language": ("English", "Norsk bokmål"),
    "switch_language_lang": ("en", "nb"),
    "login_title": ("Logg inn", "Log in"),
    "login_intro": ("Logg inn med e-postadresse og passord. Deretter ber vi om en kode fra "
                    "autentiseringsappen din.",
                    "Log in with your e-mail address and password. Then we ask for a code "
                    "from your authenticator app."),
    "email": ("E-postadresse", "E-mail address"),
    "password": ("Passord", "Password"),
    "continue": ("Fortsett", "Continue"),
    "wrong_credentials": ("Feil e-postadresse eller passord.", "Wrong e-mail or password."),
    "login_backoff": ("For mange mislykkede forsøk. Prøv igjen om {minutes} min {seconds} s "
                      "(kl. {until}).",
                      "Too many failed attempts. Try again in {minutes} min {seconds} s "
                      "(at {until})."),
    "code_title": ("Kode fra autentiseringsappen", "Code from your authenticator app"),
    "code_intro": ("Skriv inn den sekssifrede koden som autentiseringsappen viser nå.",
                   "Enter the six-digit code your authenticator app shows now."),
    "code": ("Engangskode (6 sifre)", "One-time code (6 digits)"),
    "log_in": ("Logg inn", "Log in"),
    "wrong_code": ("Koden stemmer ikke. Sjekk at klokka på telefonen går riktig.",
                   "The code is wrong. Check that your phone's clock is right."),
    "code_reused": ("Koden er allerede brukt. Vent på neste kode i appen.",
                    "That code has been used. Wait for the next code in the app."),
    "login_expired": ("Innloggingen tok for lang tid. Begynn på nytt.",
                      "The login took too long. Please start again."),
    "setup_title": ("Velg passord", "Choose a password"),
    "setup_intro": ("Velkommen, {name}. Velg et passord for kontoen {email}. Deretter setter "
                    "du opp en autentiseringsapp.",
                    "Welcome, {name}. Choose a password for the account {email}. Then you "
                    "set up an authenticator app."),
    "new_password": ("Nytt passord", "New password"),
    "repeat_password": ("Gjenta passordet", "Repeat the password"),
    "password_rules": ("Minst 12 tegn. Ikke e-postadressen din og ikke et vanlig passord.",
                       "At least 12 characters. Not your e-mail address and not a common "
                       "password."),
    "password_too_short": ("Passordet må ha minst 12 tegn.",
                           "The password must have at least 12 characters."),
    "password_is_email": ("Passordet kan ikke være e-postadressen din.",
                          "The password cannot be your e-mail address."),
    "password_common": ("Passordet er for vanlig. Velg et annet.",
                        "The password is too common. Choose another."),
    "password_mismatch": ("Passordene er ikke like.", "The passwords do not match."),
    "save_password": ("Lagre passord", "Save password"),
    "setup_invalid": ("Lenken er ukjent. Be en administrator om en ny.",
                      "The link is unknown. Ask an administrator for a new one."),
    "setup_used": ("Lenken er allerede brukt. Logg inn, eller be en administrator om en ny.",
                   "The link has already been used. Log in, or ask an administrator for a "
                   "new one."),
    "setup_expired": ("Lenken er utløpt. Be en administrator om en ny.",
                      "The link has expired. Ask an administrator for a new one."),
    "enrol_title": ("Sett opp autentiseringsapp", "Set up an authenticator app"),
    "enrol_intro": ("Skann QR-koden med autentiseringsappen (for eksempel Microsoft "
                    "Authenticator eller Google Authenticator), og skriv inn koden appen viser.",
                    "Scan the QR code with your authenticator app (for example Microsoft "
                    "Authenticator or Google Authenticator), and enter the code it shows."),
    "qr_label": ("QR-kode for autentiseringsappen", "QR code for the authenticator app"),
    "manual_secret": ("Kan du ikke skanne? Skriv inn denne nøkkelen i appen:",
                      "Cannot scan? Enter this key in the app:"),
    "confirm": ("Bekreft", "Confirm"),
    "home_title": ("Samtaler som venter", "Conversations waiting"),
    "queue_empty": ("Ingen samtaler venter", "No conversations waiting"),
    "queue_empty_hint": ("Når en innbygger ber om å snakke med en person, kommer samtalen hit.",
                         "When a citizen asks to talk to a person, the conversation "
                         "appears here."),
    "queue_count": ("{count} samtaler venter.", "{count} conversations waiting."),
    "queue_updated": ("Køen er oppdatert kl. {time}.", "Queue updated at {time}."),
    "staff_title": ("Ansatte", "Staff"),
    "staff_caption": ("Alle ansattkontoer", "All staff accounts"),
    "name": ("Navn", "Name"),
    "role": ("Rolle", "Role"),
    "status": ("Status", "Status"),
    "actions": ("Handlinger", "Actions"),
    "status_active": ("Aktiv", "Active"),
    "status_pending": ("Venter på oppsett", "Waiting for set-up"),
    "status_disabled": ("Deaktivert", "Disabled"),
    "disable": ("Deaktiver {name}", "Disable {name}"),
    "add_staff": ("Legg til ansatt", "Add a staff member"),
    "add": ("Legg til", "Add"),
    "added": ("{name} er lagt til. Send denne lenken til {name}. Den vises bare nå og gjelder "
              "i {hours} timer:",
              "{name} has been added. Send this link to {name}. It is shown only now and is "
              "valid for {hours} hours:"),
    "disabled_done": ("{name} er deaktivert. Alle økter og tokens er avsluttet.",
                      "{name} has been disabled. All sessions and tokens have ended."),
    "invalid_email": ("Skriv inn en gyldig e-postadresse.", "Enter a valid e-mail address."),
    "invalid_name": ("Skriv inn navnet.", "Enter the name."),
    "staff_exists": ("Det finnes allerede en ansatt med denne e-postadressen.",
                     "A staff member with this e-mail address already exists."),
    "staff_disabled": ("Kontoen er allerede deaktivert.", "The account is already disabled."),
    "invalid_role": ("Velg en rolle.", "Choose a role."),
    "staff_not_found": ("Fant ikke den ansatte.", "The staff member was not found."),
    "cannot_disable_self": ("Du kan ikke deaktivere din egen konto.",
                            "You cannot disable your own account."),
    "error_title": ("Noe gikk galt", "Something went wrong"),
    "unauthorized_title": ("Du må logge inn", "You need to log in"),
    "unauthorized": ("Denne siden krever at du er logget inn.",
                     "This page requires you to be logged in."),
    "session_expired": ("Du ble logget ut etter {minutes} minutter uten aktivitet.",
                        "You were logged out after {minutes} minutes without activity."),
    "go_to_login": ("Gå til innlogging", "Go to the login page"),
    "forbidden_title": ("Ingen tilgang", "No access"),
    "forbidden": ("Rollen din gir ikke tilgang til denne siden.",
                  "Your role does not give access to this page."),
    "go_home": ("Gå til forsiden", "Go to the front page"),
    "csrf": ("Skjemaet var utløpt eller ugyldig. Last siden på nytt og prøv igjen.",
             "The form had expired or was invalid. Reload the page and try again."),
    "logged_out": ("Du er logget ut.", "You are logged out."),
    "error_summary": ("Rett opp dette:", "Please correct this:"),
}


def text(lang: str, key: str, **values) -> str:
    """The text for `key` in `lang` (bokmål when missing), with `values` filled in."""
    pair = TEXTS[key]
    phrase = pair[LANGUAGES.index(lang) if lang in LANGUAGES else 0]
    return phrase.format(**values) if values else phrase


from portal.admin.texts import ADMIN_TEXTS  # noqa: E402 - the admin pages' words

TEXTS.update(ADMIN_TEXTS)

from portal.staff.workspace_texts import WORKSPACE_TEXTS  # noqa: E402 (the workspace's words)

TEXTS.update(WORKSPACE_TEXTS)
