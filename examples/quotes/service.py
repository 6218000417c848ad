"""A small threaded JSON API of a different shape from the IM service, for the regression ladder.

    python service.py --port P

* ``GET /price?symbol=S``: CPU-bound, prices an option on a binomial tree (pure Python).
* ``GET /quote?symbol=S``: asks a slow downstream (a market-data feed about 45 ms away, run
  in-process on its own socket) for the spot price, then signs the quote it returns
  (``SIGN_ROUNDS`` of PBKDF2): its latency is mostly the wait, its CPU is the signing.
* ``GET /health``, ``GET /metrics`` (JSON: open connections).

stdlib only (``ThreadingHTTPServer``), as many small internal services are written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

#: Binomial-tree steps of /price: its CPU cost.
TREE_STEPS = 120
#: PBKDF2 rounds that sign each /quote: the CPU behind the wait.
SIGN_ROUNDS = 4000
#: The downstream feed's answer time, seconds.
FEED_DELAY_S = 0.045

_active = 0
_lock = threading.Lock()


def price(symbol: str, steps: int = TREE_STEPS) -> float:
    """A European call on a Cox-Ross-Rubinstein tree; the symbol seeds the spot."""
    spot = 50.0 + (sum(map(ord, symbol)) % 50)
    strike, rate, vol, years = spot * 1.05, 0.02, 0.3, 0.5
    dt = years / steps
    up = math.exp(vol * math.sqrt(dt))
    p = (math.exp(rate * dt) - 1 / up) / (up - 1 / up)
    values = [max(spot * up ** (2 * i - steps) - strike, 0.0) for i in range(steps + 1)]
    disc = math.exp(-rate * dt)
    for step in range(steps, 0, -1):
        values = [disc * (p * values[i + 1] + (1 - p) * values[i]) for i in range(step)]
    return values[0]


def sign(payload: bytes, rounds: int = SIGN_ROUNDS) -> str:
    return hashlib.pbkdf2_hmac("sha256", payload, b"quote-signing-key", rounds).hex()[:32]


class Feed(BaseHTTPRequestHandler):
    """The slow downstream: answers every request after FEED_DELAY_S (a network away)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        time.sleep(FEED_DELAY_S)
        body = json.dumps({"spot": 100.0 + (hash(self.path) % 100) / 10}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Locust's clients expect
    feed_url = ""

    def do_GET(self) -> None:  # noqa: N802
        global _active
        with _lock:
            _active += 1
        try:
            url = urlparse(self.path)
            symbol = parse_qs(url.query).get("symbol", ["ACME"])[0][:16]
            if url.path == "/price":
                self._json({"symbol": symbol, "price": round(price(symbol), 4)})
            elif url.path == "/quote":
                with urllib.request.urlopen(f"{self.feed_url}/spot?symbol={symbol}", timeout=5) as response:
                    spot = json.loads(response.read())["spot"]
                quote = {"symbol": symbol, "bid": spot - 0.01, "ask": spot + 0.01, "ts": time.time_ns()}
                quote["signature"] = sign(json.dumps(quote, sort_keys=True).encode())
                self._json(quote)
            elif url.path == "/health":
                self._json({"ok": True})
            elif url.path == "/metrics":
                self._json({"connections": _active})
            else:
                self._json({"error": "not found"}, status=404)
        finally:
            with _lock:
                _active -= 1

    def _json(self, data: dict, status: int = 200) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    feed = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=feed.serve_forever, daemon=True).start()
    Api.feed_url = f"http://127.0.0.1:{feed.server_address[1]}"
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Api)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
