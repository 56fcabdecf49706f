"""Runs the `rasa` command line with log redaction and our Rasa fixes installed first.

Also what Rasa's command line cannot do safely by itself:
- the server's auth token comes from RASA_AUTH_TOKEN in the environment and is added to
  the arguments inside this process only, so `ps` and /proc/<pid>/cmdline never show it;
- its HTTP API also takes the token as `Authorization: Bearer` (channels/rasa_auth.py);
- request bodies are capped (Sanic refuses larger ones with 413 before reading them).
"""
import os
import sys
from typing import List

from channels.redaction import install_log_redaction

# Request bodies Sanic accepts before reading them: citizens' messages and Twilio's webhooks
# are small; the action server receives whole trackers from Rasa, over the loopback.
MAX_BODY_BYTES = {"server": 256 * 1024, "actions": 16 * 1024 * 1024}


def server_kind(argv: List[str]) -> str:
    """'server' for `rasa run`, 'actions' for `rasa run actions`, else 'other'."""
    if argv[1:2] != ["run"]:
        return "other"
    return "actions" if argv[2:3] == ["actions"] else "server"


def with_auth_token(argv: List[str], env=os.environ) -> List[str]:
    """`rasa run` (the server, not `run actions`) gets --auth-token from RASA_AUTH_TOKEN."""
    if any(arg == "--auth-token" or arg.startswith("--auth-token=") for arg in argv):
        raise SystemExit("Pass the Rasa token in RASA_AUTH_TOKEN, not on the command line "
                         "(where `ps` shows it).")
    token = env.get("RASA_AUTH_TOKEN")
    if token and server_kind(argv) == "server":
        # One argument: a generated token may start with "-", which argparse would take
        # for an option (Rasa then exits: "--auth-token: expected one argument").
        return [*argv, f"--auth-token={token}"]
    return argv


def main() -> None:
    install_log_redaction()
    argv = ["rasa", *sys.argv[1:]]
    kind = server_kind(argv)
    if kind in MAX_BODY_BYTES:
        os.environ.setdefault("SANIC_REQUEST_MAX_SIZE", str(MAX_BODY_BYTES[kind]))
    from rasa.__main__ import main as rasa_main

    from channels.rasa_auth import install_bearer_token_auth
    from channels.rasa_fixes import install_compiled_action_validation

    install_compiled_action_validation()
    install_bearer_token_auth()
    if kind == "server":
        from channels.observe import install as install_observation

        install_observation()

    sys.argv = with_auth_token(argv)
    rasa_main()


if __name__ == "__main__":
    main()
