"""Load for the quote service: mostly quotes (behind the slow feed), some pricing.

locust -f locustfile.py --host http://127.0.0.1:PORT --headless -u 10 -r 10 -t 10s
"""

from __future__ import annotations

import random

from locust import FastHttpUser, between, task

SYMBOLS = ("ACME", "INIT", "GLOBX", "FOO", "BAR", "ZETA", "OMNI", "KRAK")


class QuoteUser(FastHttpUser):
    wait_time = between(0.01, 0.05)

    @task(3)
    def quote(self) -> None:
        self.client.get(f"/quote?symbol={random.choice(SYMBOLS)}", name="/quote")

    @task(1)
    def price(self) -> None:
        self.client.get(f"/price?symbol={random.choice(SYMBOLS)}", name="/price")
