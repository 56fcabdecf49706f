"""Runs the `rasa` command line with log redaction and our Rasa fixes installed first.

Also what Rasa's command line cannot do safely by itself:
- the server's auth token comes from RASA_AUTH_TOKEN in the environment and is added to
  the arguments inside this process only, so `ps` and /proc/<pid>/cmdline never show it;
- request bodies are capped (Sanic refuses larger ones with 413 before reading them).
"""
import os
import sys
from typing import List

from channels.redaction import install_log_redaction

MAX_BODY_BYTES = 256 * 1024


def with_auth_token(argv: List[str], env=os.environ) -> List[str]:
    """`rasa run` (the server, not `run actions`) gets --auth-token from RASA_AUTH_TOKEN."""
    if any(arg == "--auth-token" or arg.startswith("--auth-token=") for arg in argv):
        raise SystemExit("Pass the Rasa token in RASA_AUTH_TOKEN, not on the command line "
                         "(where `ps` shows it).")
    token = env.get("RASA_AUTH_TOKEN")
    if token and argv[1:2] == ["run"] and argv[2:3] != ["actions"]:
        return [*argv, "--auth-token", token]
    return argv


def main() -> None:
    install_log_redaction()
    os.environ.setdefault("SANIC_REQUEST_MAX_SIZE", str(MAX_BODY_BYTES))
    from rasa.__main__ import main as rasa_main

    from channels.rasa_fixes import install_compiled_action_validation

    install_compiled_action_validation()

    sys.argv = with_auth_token(["rasa", *sys.argv[1:]])
    rasa_main()


if __name__ == "__main__":
    main()
