"""What a citizen is told when a person joins or leaves a conversation, per language."""

PERSON_JOINED = {
    "nb": "Du snakker nå med {name} i {municipality}.",
    "nn": "Du snakkar no med {name} i {municipality}.",
    "en": "You are now talking to {name} at {municipality}.",
}
PERSON_LEFT = {
    "nb": "Du snakker nå med assistenten igjen.",
    "nn": "Du snakkar no med assistenten att.",
    "en": "You are talking to the assistant again.",
}
CASEWORKER = {"nb": "Saksbehandler", "nn": "Sakshandsamar", "en": "Caseworker"}


def pick(texts: dict, language: str | None, **values: str) -> str:
    """The text in `language` (bokmål when unknown), filled in."""
    return texts.get(language or "nb", texts["nb"]).format(**values)
