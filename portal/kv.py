"""Short-lived keys (one-time codes, counters, locks): Redis in production, in-process otherwise."""
from __future__ import annotations

import threading
import time
from typing import Dict, Optional, Protocol, Tuple

import redis


class KeyValueStore(Protocol):
    def get(self, key: str) -> Optional[str]: ...

    def set(self, key: str, value: str, ttl: int, *, only_if_new: bool = False) -> bool: ...

    def incr(self, key: str, ttl: int) -> int: ...

    def delete(self, key: str) -> bool: ...

    def ttl(self, key: str) -> int: ...


class MemoryStore:
    """A thread-safe dict with expiry, for the embedded single-process default."""

    def __init__(self, now=time.monotonic):
        self._now = now
        self._data: Dict[str, Tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> Optional[Tuple[str, float]]:
        item = self._data.get(key)
        if item is not None and item[1] <= self._now():
            del self._data[key]
            return None
        return item

    def get(self, key: str) -> Optional[str]:
        with self._lock:
            item = self._live(key)
            return item[0] if item else None

    def set(self, key: str, value: str, ttl: int, *, only_if_new: bool = False) -> bool:
        with self._lock:
            if only_if_new and self._live(key):
                return False
            self._data[key] = (value, self._now() + ttl)
            return True

    def incr(self, key: str, ttl: int) -> int:
        with self._lock:
            item = self._live(key)
            value = int(item[0]) + 1 if item else 1
            self._data[key] = (str(value), item[1] if item else self._now() + ttl)
            return value

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None and self._data.pop(key, None) is not None

    def ttl(self, key: str) -> int:
        with self._lock:
            item = self._live(key)
            return max(0, int(item[1] - self._now() + 0.999)) if item else 0


class RedisStore:
    """The same operations on Redis; every key carries a TTL."""

    def __init__(self, url: str, prefix: str = "assistant:"):
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)
        self.prefix = prefix

    def get(self, key: str) -> Optional[str]:
        return self.client.get(self.prefix + key)

    def set(self, key: str, value: str, ttl: int, *, only_if_new: bool = False) -> bool:
        return bool(self.client.set(self.prefix + key, value, ex=ttl, nx=only_if_new))

    def incr(self, key: str, ttl: int) -> int:
        pipe = self.client.pipeline()
        pipe.incr(self.prefix + key)
        pipe.expire(self.prefix + key, ttl, nx=True)
        value, _ = pipe.execute()
        return int(value)

    def delete(self, key: str) -> bool:
        return self.client.delete(self.prefix + key) == 1

    def ttl(self, key: str) -> int:
        return max(0, int(self.client.ttl(self.prefix + key)))


def make_store(redis_url: Optional[str], prefix: str = "assistant:") -> KeyValueStore:
    return RedisStore(redis_url, prefix) if redis_url else MemoryStore()
