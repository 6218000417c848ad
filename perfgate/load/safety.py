"""A live run's safety limits inside the load process (imported there only, after gevent's patching).

Per side: a token bucket that holds every HTTP request of that side's users to ``[live] rate``
(the wait is before the request, so it is not in the latency), a cap on the requests sent,
and a watch on the error rate that stops the load at once when it passes
``[live] abort_error_rate`` (after :data:`ABORT_MIN_REQUESTS` requests of that side).
The bucket is a few lines of its own: gevent and Locust have none that spans users, and
``constant_throughput`` paces each user, not a side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: A side's error rate is watched only once it has sent this many requests.
ABORT_MIN_REQUESTS = 20


class TokenBucket:
    """At most one request now and ``rate`` per second after: over any T seconds, 1 + rate x T."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.tokens = 1.0
        self.last = clock()

    def wait(self) -> float:
        """Seconds until a token is free (0: one was taken now)."""
        now = self.clock()
        self.tokens = min(1.0, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0 - 1e-9:  # a token up to float rounding
            self.tokens = max(0.0, self.tokens - 1.0)
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Safety:
    """The limits of one round for every side; ``aborted`` says which one stopped it."""

    def __init__(self, limits: dict[str, Any], sides: list[str]) -> None:
        self.rate = float(limits.get("rate") or 0.0)
        self.cap = int(limits.get("max_requests") or 0)
        self.abort_rate = float(limits.get("abort_error_rate") or 0.0)
        self.buckets = {side: TokenBucket(self.rate) for side in sides} if self.rate > 0 else {}
        self.sent = dict.fromkeys(sides, 0)
        self.seen = dict.fromkeys(sides, 0)
        self.failed = dict.fromkeys(sides, 0)
        self.aborted = ""

    def before_request(self, side: str) -> None:
        """Block until the side's bucket has a token; stop the user once anything aborted."""
        import gevent
        from locust.exception import StopUser

        bucket = self.buckets.get(side)
        while True:
            if self.aborted:
                raise StopUser()
            if self.cap and self.sent[side] >= self.cap:
                self.aborted = f"the {side} reached its request cap ({self.cap} this round, [live] max_requests)"
                raise StopUser()
            delay = bucket.wait() if bucket is not None else 0.0
            if delay <= 0:
                self.sent[side] += 1
                return
            gevent.sleep(delay)

    def on_request(self, context: dict[str, Any] | None = None, exception: Any = None, **_: Any) -> None:
        """Locust's ``request`` event: count per side, abort when a side's error rate passes the threshold."""
        side = (context or {}).get("side")
        if side not in self.seen or self.abort_rate <= 0:
            return
        self.seen[side] += 1
        self.failed[side] += exception is not None
        seen, failed = self.seen[side], self.failed[side]
        if not self.aborted and seen >= ABORT_MIN_REQUESTS and failed / seen > self.abort_rate:
            self.aborted = (
                f"the {side}'s error rate reached {failed / seen:.0%} ({failed} of {seen} requests), "
                f"past [live] abort_error_rate ({self.abort_rate:.0%})"
            )


def guard_client(user: Any, side: str, safety: Safety) -> None:
    """Put ``safety`` in front of every request of ``user``'s HTTP client (HttpUser, FastHttpUser)."""
    client = getattr(user, "client", None)
    send = getattr(client, "request", None)
    if client is None or send is None:
        return

    def request(*args: Any, **kwargs: Any) -> Any:
        safety.before_request(side)
        return send(*args, **kwargs)

    client.request = request
