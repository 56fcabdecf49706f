"""The SMS channel's own texts (replies that never reach the bot), per language."""

OPTED_OUT = {
    "nb": "Du får ikke flere SMS fra Bergen kommunes assistent. Send START for å slå det på igjen.",
    "nn": "Du får ikkje fleire SMS frå assistenten til Bergen kommune. Send START for å slå det på att.",
    "en": "You will get no more SMS from Bergen kommune's assistant. Send START to turn them back on.",
}
OPTED_IN = {
    "nb": "Velkommen tilbake! Du får igjen SMS fra Bergen kommunes assistent. Send HJELP for hjelp.",
    "nn": "Velkomen attende! Du får att SMS frå assistenten til Bergen kommune. Send HJELP for hjelp.",
    "en": "Welcome back! You will get SMS from Bergen kommune's assistant again. Send HELP for help.",
}
HELP = {
    "nb": "Bergen kommune: Svar BREV for nye brev, LES 1 for å lese, FAKTURA for fakturaer. "
          "STOPP stanser SMS. Hjelp: 55 56 55 56.",
    "nn": "Bergen kommune: Svar BREV for nye brev, LES 1 for å lese, FAKTURA for fakturaer. "
          "STOPP stansar SMS. Hjelp: 55 56 55 56.",
    "en": "Bergen kommune: Reply BREV for new letters, LES 1 to read, FAKTURA for invoices. "
          "STOP ends SMS. Help: +47 55 56 55 56.",
}
TEXT_ONLY = {
    "nb": "Jeg kan bare lese tekst. Skriv det du lurer på som en vanlig SMS.",
    "nn": "Eg kan berre lese tekst. Skriv det du lurer på som ein vanleg SMS.",
    "en": "I can only read text. Please write your question as a normal SMS.",
}
NOTHING_MORE = {
    "nb": "Det er ikke mer å vise.",
    "nn": "Det er ikkje meir å vise.",
    "en": "There is nothing more to show.",
}
NOTICE_ONE = {
    "nb": "Du har fått brev fra {municipality}: {title}. Svar LES for å lese det.",
    "nn": "Du har fått brev frå {municipality}: {title}. Svar LES for å lese det.",
    "en": "You have a letter from {municipality}: {title}. Reply LES to read it.",
}
NOTICE_MANY = {
    "nb": "Du har fått {count} brev fra {municipality}, sist: {title}. Svar LES for å lese det nyeste.",
    "nn": "Du har fått {count} brev frå {municipality}, sist: {title}. Svar LES for å lese det nyaste.",
    "en": "You have {count} letters from {municipality}, latest: {title}. Reply LES to read the newest.",
}
