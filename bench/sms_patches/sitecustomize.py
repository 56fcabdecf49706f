"""Experiments for `bench.sms_bench --patch NAME`: what a proposed fix would change, measured
without touching the project's files. The bench puts this folder on PYTHONPATH of every process
of the stack and names the patches in SMS_BENCH_PATCHES (comma-separated); with the variable
unset this module does nothing.

  validate-per-call  undoes channels/rasa_fixes.py (commit 28f9a26): Rasa validates each action
                     server reply with `jsonschema.validate` again, as before that fix.
  cached-jsonschema  (for checkouts before 28f9a26) Rasa validates every action server reply with `jsonschema.validate`,
                     which checks the schema itself against the 2020-12 metaschema each call;
                     validate with one compiled validator instead (same result).
  turn-limit=N       (for checkouts before 6e1b930, which added SMS_TURN_CONCURRENCY; the bench's
                     --turn-concurrency sets that) at most N SMS turns run at once in the Rasa process (per-sender order
                     kept: each sender's queue is still drained one message at a time).
  switch-interval=S  sys.setswitchinterval(S) (default 0.005): how long a CPU-bound thread
                     (the event loop running turns) keeps the GIL from a thread that finished
                     waiting for the database (the executor running the webhook's insert).
"""
from __future__ import annotations

import importlib.abc
import os
import sys

PATCHES = {}
for item in filter(None, (os.environ.get("SMS_BENCH_PATCHES") or "").split(",")):
    name, _, value = item.strip().partition("=")
    PATCHES[name] = value


def _patch_actions(module) -> None:
    import jsonschema

    cls = module.RemoteAction
    original = cls._validate_action_result
    compiled = {}

    def _validate_action_result(self, result):
        validator = compiled.get(type(self))
        if validator is None:
            schema = self.action_response_format_spec()
            validator = jsonschema.validators.validator_for(schema)(schema)
            compiled[type(self)] = validator
        if validator.is_valid(result):
            return True
        return original(self, result)  # Rasa's own error handling and message

    cls._validate_action_result = _validate_action_result


def _patch_sms(module) -> None:
    import asyncio

    limit = int(PATCHES["turn-limit"] or 1)
    original = module.SmsInput._handle
    state = {}

    async def _handle(self, key, inbound_id):
        semaphore = state.get("semaphore")
        if semaphore is None:
            semaphore = state["semaphore"] = asyncio.Semaphore(limit)
        async with semaphore:
            return await original(self, key, inbound_id)

    module.SmsInput._handle = _handle


if PATCHES.get("switch-interval"):
    sys.setswitchinterval(float(PATCHES["switch-interval"]))

def _undo_rasa_fixes(module) -> None:
    module.install_compiled_action_validation = lambda: None


HOOKS = {}
if "validate-per-call" in PATCHES:
    HOOKS["channels.rasa_fixes"] = _undo_rasa_fixes
if "cached-jsonschema" in PATCHES:
    HOOKS["rasa.core.actions.action"] = _patch_actions
if "turn-limit" in PATCHES:
    HOOKS["channels.sms"] = _patch_sms


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a hook right after one of the named modules has been executed."""

    def find_spec(self, name, path, target=None):
        hook = HOOKS.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                exec_module = spec.loader.exec_module

                def patched(module, exec_module=exec_module, hook=hook):
                    exec_module(module)
                    hook(module)

                spec.loader.exec_module = patched
                return spec
        return None


if HOOKS:
    sys.meta_path.insert(0, _AfterImport())
