"""The reference service's seed cache: hashes computed once per passwords, work factor and hashing
code, then read back, so a fresh data directory per round costs no scrypt at boot."""

import asyncio
from pathlib import Path

from perfgate.reference.imserver.app import seed_hashes
from perfgate.reference.imserver.auth import verify_password

PASSWORDS = ["pass0000", "pass0001", "pass0002"]


def test_hashes_are_computed_once_and_verify(tmp_path: Path) -> None:
    first = asyncio.run(seed_hashes(PASSWORDS, 4, tmp_path))
    (cached,) = tmp_path.glob("seed-*.json")
    again = asyncio.run(seed_hashes(PASSWORDS, 4, tmp_path))
    assert again == first  # read back: the same salts and digests
    assert all(verify_password(pw, h) for pw, h in zip(PASSWORDS, again, strict=True))
    assert not verify_password("wrong", again[0])
    assert list(tmp_path.glob("seed-*.json")) == [cached]


def test_another_work_factor_or_user_set_is_hashed_anew(tmp_path: Path) -> None:
    base = asyncio.run(seed_hashes(PASSWORDS, 4, tmp_path))
    harder = asyncio.run(seed_hashes(PASSWORDS, 5, tmp_path))
    assert {h.log2n for h in harder} == {5} and harder != base
    assert len(asyncio.run(seed_hashes(PASSWORDS[:2], 4, tmp_path))) == 2
    assert len(list(tmp_path.glob("seed-*.json"))) == 3


def test_without_a_cache_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert len(asyncio.run(seed_hashes(PASSWORDS, 4, None))) == 3
    assert list(tmp_path.iterdir()) == []
