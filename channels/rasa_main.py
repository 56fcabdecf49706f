"""Runs the `rasa` command line with log redaction and our Rasa fixes installed first."""
import sys

from channels.redaction import install_log_redaction


def main() -> None:
    install_log_redaction()
    from rasa.__main__ import main as rasa_main

    from channels.rasa_fixes import install_compiled_action_validation

    install_compiled_action_validation()

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
