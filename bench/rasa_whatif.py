"""`python -m channels.rasa_main` with one change under study, for bench/bot_bench.py --what-if.

The change now is the one just undone: Rasa sends the domain with every action call again, as
before `enable_selective_domain` (bot/endpoints*.yml, actions/domain.py). FULL+what-if is thus
the project as it was, FULL the project as it is. The project code stays as it is.
"""
from __future__ import annotations


def install_change() -> None:
    """Every action call carries the whole domain (selective domain off)."""
    from rasa.core.actions.action import RemoteAction

    RemoteAction._is_selective_domain_enabled = lambda self: False


def main() -> None:
    from channels.rasa_main import main as project_main

    install_change()
    project_main()


if __name__ == "__main__":
    main()
