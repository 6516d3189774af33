"""Token buckets per caller (a key, or a client address on the public surface), in memory.

A bucket holds up to one minute's allowance and refills continuously, so a caller may burst to
its per-minute rate and then proceeds at rate/60 per second. Limits hold per server process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from socialcredit.api.errors import RateLimited

_MAX_BUCKETS = 100_000  # forget idle callers beyond this many (public addresses are unbounded)


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # caller -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, caller: Hashable, per_minute: int) -> None:
        """Spend one token or raise RateLimited with the wait until the next one."""
        now = self._clock()
        capacity = float(per_minute)
        with self._lock:
            tokens, last = self._buckets.get(caller, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * per_minute / 60.0)
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                wait = (1.0 - tokens) * 60.0 / per_minute
                raise RateLimited(
                    f"rate limit of {per_minute} requests per minute reached; "
                    f"retry in {wait:.2f} s",
                    retry_after=wait,
                )
            if len(self._buckets) >= _MAX_BUCKETS and caller not in self._buckets:
                self._buckets.clear()  # a flood of new addresses; full buckets are the default
            self._buckets[caller] = (tokens - 1.0, now)
