"""Norwegian money formatting."""


def format_nok(ore: int) -> str:
    """3315_00 øre -> '3 315,00 kr' (non-breaking spaces are left to the channel)."""
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner:,}".replace(",", " ") + f",{rest:02d} kr"
