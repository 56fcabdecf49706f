"""Rasa's own command line from the repository root, with this project's layout as defaults.

The project's `rasa` script (pyproject.toml) runs Rasa's CLI with our log redaction and Rasa
fixes installed (`channels.rasa_main`), and fills in what a Rasa project since the 3.x template
finds by itself: the domain lives in `bot/domain`, training data in `data/nlu` and
`data/rules`, conversation tests in `tests/`, models in `var/models`, endpoints and
credentials in `bot/`. Options given on the command line always win.

`rasa run actions` starts our hardened action server (`actions.server`) instead of
rasa-sdk's, and `rasa run`/`rasa shell` get the same environment `assistant up` gives them.
`rasa shell` and `rasa interactive` are development tools: they run the demo configuration
and say so.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Optional, Sequence

from assistant.model import training_data_dirs
from portal.config import PROJECT_ROOT

MODELS_DIR = "var/models"
# The values each option of Rasa's CLI gets when the command has it and it is not given.
LAYOUT: Dict[str, List[str]] = {
    "--domain": ["bot/domain"],
    "--config": ["config.yml"],
    "--nlu": ["data/nlu"],
    "--stories": ["tests"],
}
SERVER_COMMANDS = {("run",), ("shell",), ("shell", "nlu"), ("interactive",)}
DEVELOPMENT_COMMANDS = {("shell",), ("shell", "nlu"), ("interactive",)}


def _subcommand(argv: Sequence[str]) -> tuple:
    """The words of the subcommand (`("data", "validate")`) and its argparse parser."""
    from rasa.__main__ import create_argument_parser

    parser = create_argument_parser()
    words = []
    for word in argv:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or word not in actions[0].choices:
            break
        parser = actions[0].choices[word]
        words.append(word)
    return tuple(words), parser


def _given(argv: Sequence[str], option: str) -> bool:
    return any(arg == option or arg.startswith(option + "=") for arg in argv)


def with_project_defaults(argv: List[str], runtime=None) -> List[str]:
    """`argv` (without the program name) with the project's layout added where missing."""
    command, parser = _subcommand(argv)
    options = {o for a in parser._actions for o in a.option_strings}
    defaults = dict(LAYOUT)
    defaults["--data"] = training_data_dirs()
    if command[:1] in (("train",), ("interactive",)):
        defaults["--out"] = [MODELS_DIR]
    if command[:1] in (("test",), ("shell",), ("run",), ("interactive",)):
        defaults["--model"] = [MODELS_DIR]
    if runtime is not None and command in SERVER_COMMANDS:
        defaults["--endpoints"] = [str(runtime.endpoints_file.relative_to(PROJECT_ROOT))]
        defaults["--credentials"] = [str(runtime.credentials_file.relative_to(PROJECT_ROOT))]
    extra = []
    for option, values in defaults.items():
        if option in options and not _given(argv, option):
            extra += [option, *values]
    return list(argv) + extra


def _runtime_env(process: str, demo: bool):
    """The Runtime, and the environment `assistant up` gives `process` (actions or rasa)."""
    from assistant.runtime import Runtime

    env = dict(os.environ)
    if demo and not env.get("ASSISTANT_ENV"):
        env["ASSISTANT_ENV"] = "demo"
        print("rasa: a development command; running with the demo configuration "
              "(ASSISTANT_ENV=demo).", file=sys.stderr)
    runtime = Runtime.from_env(env)
    return runtime, runtime.env_for(process)


def _port(argv: Sequence[str]) -> Optional[str]:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-p", "--port")
    known, _ = parser.parse_known_args(list(argv))
    return known.port


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.chdir(PROJECT_ROOT)
    command, _ = _subcommand(argv)
    if command == ("run", "actions"):
        _, env = _runtime_env("actions", demo=False)
        os.environ.update(env)
        from actions.server import main as run_actions

        port = _port(argv[2:])
        run_actions(["--port", port] if port else [])
        return
    runtime = None
    if command in SERVER_COMMANDS:
        runtime, env = _runtime_env("rasa", demo=command in DEVELOPMENT_COMMANDS)
        os.environ.update(env)
    from channels.rasa_main import main as rasa_main

    sys.argv = ["rasa", *with_project_defaults(argv, runtime)]
    rasa_main()


if __name__ == "__main__":
    main()
