"""Seed Prosody's internal storage with the load's accounts, then exit.

    python seed_accounts.py DATA_DIR [--users 200] [--host localhost]

Writes ``user0000``..``userNNNN`` (passwords ``pass0000``..) as Prosody's
``internal_hashed`` account files: SCRAM-SHA-1 stored and server keys, so Prosody
stores no password. Far quicker than one ``prosodyctl register`` per account.
Each account's roster holds its ``--contacts`` neighbours (``user n±1``, ``n±2``, ...)
with mutual subscriptions, so presence fans out and clients see whom to chat with.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import uuid
from pathlib import Path

ITERATIONS = 4096  # RFC 7677's floor; Prosody's own default (10,000) costs each client login ~2.5x more


def scram_keys(password: str, salt: str) -> tuple[str, str]:
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha1")
    server_key = hmac.digest(salted, b"Server Key", "sha1")
    return hashlib.sha1(client_key).hexdigest(), server_key.hex()


def account_file(password: str) -> str:
    salt = str(uuid.uuid4())
    stored_key, server_key = scram_keys(password, salt)
    return (
        "return {\n"
        f'\t["iteration_count"] = {ITERATIONS};\n'
        f'\t["salt"] = "{salt}";\n'
        f'\t["stored_key"] = "{stored_key}";\n'
        f'\t["server_key"] = "{server_key}";\n'
        "};\n"
    )


def roster_file(n: int, users: int, contacts: int, host: str) -> str:
    offsets = [d for k in range(1, contacts // 2 + 1) for d in (k, -k)][:contacts]
    peers = sorted({(n + d) % users for d in offsets} - {n})
    items = "".join(f'\t["user{p:04d}@{host}"] = {{ ["subscription"] = "both"; ["groups"] = {{}}; }};\n' for p in peers)
    return f'return {{\n\t[false] = {{ ["version"] = 1; ["pending"] = {{}}; }};\n{items}}};\n'


def host_folder(host: str) -> str:
    """Prosody's datamanager encodes every character but letters and digits as %xx."""
    return "".join(c if c.isalnum() else f"%{ord(c):02x}" for c in host)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=10)
    parser.add_argument("--host", default="localhost")
    args = parser.parse_args()
    accounts, rosters = (args.data_dir / host_folder(args.host) / store for store in ("accounts", "roster"))
    accounts.mkdir(parents=True, exist_ok=True)
    rosters.mkdir(parents=True, exist_ok=True)
    for n in range(args.users):
        (accounts / f"user{n:04d}.dat").write_text(account_file(f"pass{n:04d}"))
        (rosters / f"user{n:04d}.dat").write_text(roster_file(n, args.users, args.contacts, args.host))


if __name__ == "__main__":
    main()
