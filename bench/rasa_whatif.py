"""`python -m channels.rasa_main` with one change under study, for bench/bot_bench.py --what-if.

It holds no change now: the last one, redacting only the events a save adds instead of a copy
of the whole tracker, is in the project (channels/tracker_store.py). Put the next change to
measure in `install_change`; the project code stays as it is.
"""
from __future__ import annotations


def install_change() -> None:
    """The change under study (none)."""


def main() -> None:
    from channels.rasa_main import main as project_main

    install_change()
    project_main()


if __name__ == "__main__":
    main()
