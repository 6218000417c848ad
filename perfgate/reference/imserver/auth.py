"""Password hashing (scrypt) and stateless signed session tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

# scrypt work factor: N = 2**SCRYPT_LOG2N (r=8, p=1). 12 costs about 6 ms of CPU
# per hash on the 2-core dev box, so one login is 5-10 ms and seeding 200 users
# takes about a second. Each +1 doubles the login cost (perfgate's demo edits this line).
SCRYPT_LOG2N = 12

SCRYPT_R = 8
SCRYPT_P = 1
TOKEN_TTL_S = 3600


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """A stored scrypt hash together with the parameters that produced it."""

    salt: bytes
    digest: bytes
    log2n: int


def _scrypt(password: str, salt: bytes, log2n: int) -> bytes:
    n = 1 << log2n
    # OpenSSL's default memory cap (32 MiB) is too small from log2n = 15 up.
    maxmem = 2 * 128 * SCRYPT_R * n + (1 << 20)
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=maxmem, dklen=32)


def hash_password(password: str, log2n: int = SCRYPT_LOG2N) -> PasswordHash:
    """Hash with a fresh random salt. CPU-bound: run it in an executor."""
    salt = os.urandom(16)
    return PasswordHash(salt, _scrypt(password, salt, log2n), log2n)


def verify_password(password: str, stored: PasswordHash) -> bool:
    """Check a password in constant time. CPU-bound: run it in an executor."""
    return hmac.compare_digest(_scrypt(password, stored.salt, stored.log2n), stored.digest)


def load_or_create_key(path: Path) -> bytes:
    """The token signing key, kept in the data dir so sessions survive a restart."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key


class TokenSigner:
    """Issues ``<user>.<expiry>.<mac>`` tokens; nothing is kept per session."""

    def __init__(self, key: bytes | None = None, ttl_s: int = TOKEN_TTL_S) -> None:
        self._key = key or secrets.token_bytes(32)
        self._ttl_s = ttl_s

    def _mac(self, payload: str) -> str:
        mac = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def issue(self, user: str) -> str:
        payload = f"{user}.{int(time.time()) + self._ttl_s}"
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str) -> str | None:
        """Return the token's user, or None if it is forged, malformed or expired."""
        payload, _, mac = token.rpartition(".")
        user, _, expiry = payload.rpartition(".")
        if not user or not expiry.isdigit():
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        return user if int(expiry) >= time.time() else None
