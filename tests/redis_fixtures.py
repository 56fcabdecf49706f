"""The portal's settings with its key-value store in the real Redis (staff logins and their
counters), flushed before every test. A test module imports both names to use them."""
import dataclasses

import pytest
import redis

from tests.conftest import REDIS_URL


@pytest.fixture
def settings(settings, database_url):
    """The conftest settings with the store in the real Redis."""
    return dataclasses.replace(settings, redis_url=REDIS_URL)


@pytest.fixture(autouse=True)
def clean_redis():
    redis.Redis.from_url(REDIS_URL).flushdb()
