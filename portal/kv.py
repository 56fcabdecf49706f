"""Short-lived keys (one-time codes, counters, locks): Redis in production, in-process otherwise."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Dict, Optional, Protocol, Tuple

import redis


class KeyValueStore(Protocol):
    def get(self, key: str) -> Optional[str]: ...

    def set(self, key: str, value: str, ttl: int, *, only_if_new: bool = False) -> bool: ...

    def incr(self, key: str, ttl: int) -> int: ...

    def delete(self, key: str) -> bool: ...

    def ttl(self, key: str) -> int: ...

    def take_attempt(self, keys: "AttemptKeys", rules: "AttemptRules") -> "Attempt": ...

    def refund_attempt(self, keys: "AttemptKeys", rules: "AttemptRules") -> None: ...


@dataclass(frozen=True)
class AttemptKeys:
    """The keys one guess touches: the account's failures, lock and back-off, the code's tries."""

    failures: str
    lock: str
    backoff: str
    tries: str


@dataclass(frozen=True)
class AttemptRules:
    free_failures: int
    max_backoff: int
    lock_after: int
    lock_seconds: int
    failure_memory: int
    tries_ttl: int
    # After this many failures in a row the account stays locked for the failure memory:
    # another way in (ID-porten, which clears the failures) is needed (NIST SP 800-63B: <= 100).
    close_after: int = 0


@dataclass(frozen=True)
class Attempt:
    """`allowed`, or `locked`/`backoff` with the seconds left; a taken attempt counts as a failure
    until a success clears the account."""

    outcome: str
    retry_after: int = 0
    failures: int = 0
    tries: int = 0


def backoff_seconds(failures: int, rules: AttemptRules) -> int:
    """No wait for the first few failures, then doubling waits up to a cap."""
    if failures <= rules.free_failures:
        return 0
    return min(rules.max_backoff, 2 ** min(failures - rules.free_failures, 30))


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
            return self._incr(key, ttl)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None and self._data.pop(key, None) is not None

    def ttl(self, key: str) -> int:
        with self._lock:
            item = self._live(key)
            return max(0, int(item[1] - self._now() + 0.999)) if item else 0

    def _incr(self, key: str, ttl: int) -> int:
        item = self._live(key)
        value = int(item[0]) + 1 if item else 1
        self._data[key] = (str(value), item[1] if item else self._now() + ttl)
        return value

    def take_attempt(self, keys: AttemptKeys, rules: AttemptRules) -> Attempt:
        """Checks lock and back-off and counts the guess, all under the one lock."""
        with self._lock:
            for key, outcome in ((keys.lock, "locked"), (keys.backoff, "backoff")):
                item = self._live(key)
                if item:
                    return Attempt(outcome, max(1, int(item[1] - self._now() + 0.999)))
            failures = self._incr(keys.failures, rules.failure_memory)
            tries = self._incr(keys.tries, rules.tries_ttl)
            if rules.close_after and failures >= rules.close_after:
                self._data[keys.lock] = ("1", self._now() + rules.failure_memory)
            elif failures >= rules.lock_after:
                self._data[keys.lock] = ("1", self._now() + rules.lock_seconds)
            elif backoff_seconds(failures, rules):
                self._data[keys.backoff] = ("1", self._now() + backoff_seconds(failures, rules))
            return Attempt("allowed", 0, failures, tries)

    def refund_attempt(self, keys: AttemptKeys, rules: AttemptRules) -> None:
        """Takes back the failure a guess counted once it proved right, with the back-off or
        lock that count alone set (never below zero), all under the one lock."""
        with self._lock:
            item = self._live(keys.failures)
            if not item or int(item[0]) <= 0:
                return
            failures = int(item[0]) - 1
            self._data[keys.failures] = (str(failures), item[1])
            if failures <= rules.free_failures:
                self._data.pop(keys.backoff, None)
            if failures < rules.lock_after:
                self._data.pop(keys.lock, None)


# KEYS: lock, backoff, failures, tries. ARGV: free failures, max back-off, lock after,
# lock seconds, failure memory, tries TTL, close after (0: never). The same steps as MemoryStore.take_attempt, atomic.
TAKE_ATTEMPT = """
for i, outcome in ipairs({'locked', 'backoff'}) do
  local left = redis.call('TTL', KEYS[i])
  if left ~= -2 then return {outcome, math.max(1, left), 0, 0} end
end
local failures = redis.call('INCR', KEYS[3])
if failures == 1 then redis.call('EXPIRE', KEYS[3], ARGV[5]) end
local tries = redis.call('INCR', KEYS[4])
if tries == 1 then redis.call('EXPIRE', KEYS[4], ARGV[6]) end
local free, cap, close = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[7])
if close > 0 and failures >= close then
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[5])
elseif failures >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[4])
elseif failures > free then
  redis.call('SET', KEYS[2], '1', 'EX', math.floor(math.min(cap, 2 ^ math.min(failures - free, 30))))
end
return {'allowed', 0, failures, tries}
"""

# KEYS: failures, backoff, lock. ARGV: free failures, lock after. As MemoryStore.refund_attempt.
REFUND_ATTEMPT = """
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures <= 0 then return 0 end
failures = redis.call('DECR', KEYS[1])
if failures <= tonumber(ARGV[1]) then redis.call('DEL', KEYS[2]) end
if failures < tonumber(ARGV[2]) then redis.call('DEL', KEYS[3]) end
return failures
"""


class RedisStore:
    """The same operations on Redis; every key carries a TTL."""

    def __init__(self, url: str, prefix: str = "assistant:"):
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)
        self.prefix = prefix
        self._take_attempt = self.client.register_script(TAKE_ATTEMPT)
        self._refund_attempt = self.client.register_script(REFUND_ATTEMPT)

    def take_attempt(self, keys: AttemptKeys, rules: AttemptRules) -> Attempt:
        outcome, left, failures, tries = self._take_attempt(
            keys=[self.prefix + k for k in (keys.lock, keys.backoff, keys.failures, keys.tries)],
            args=[rules.free_failures, rules.max_backoff, rules.lock_after, rules.lock_seconds,
                  rules.failure_memory, rules.tries_ttl, rules.close_after])
        return Attempt(outcome, int(left), int(failures), int(tries))

    def refund_attempt(self, keys: AttemptKeys, rules: AttemptRules) -> None:
        self._refund_attempt(keys=[self.prefix + k for k in (keys.failures, keys.backoff,
                                                             keys.lock)],
                             args=[rules.free_failures, rules.lock_after])

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
