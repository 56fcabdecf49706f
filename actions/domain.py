"""The domain the actions render from, loaded once from `bot/domain` by Rasa's own loader.

With `enable_selective_domain` in `bot/endpoints*.yml`, Rasa sends no domain with an action
call (about 47 KB of JSON, built, sent and parsed twice per turn); the action server uses this
copy instead. The model is trained from the same files (`assistant.model.TRAINING_INPUTS`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict

from portal.config import PROJECT_ROOT

DOMAIN_PATH = PROJECT_ROOT / "bot" / "domain"


@lru_cache(maxsize=1)
def loaded() -> Dict[str, Any]:
    from rasa.shared.core.domain import Domain

    return Domain.load(str(DOMAIN_PATH)).as_dict()
