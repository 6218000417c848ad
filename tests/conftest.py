"""Shared fixtures (helpers live in tests/support.py, which tags this session's processes on import)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.support import free_port, make_repo


@pytest.fixture
def tmp_repo(tmp_path: Path):
    def build(commits):
        return make_repo(tmp_path / "repo", commits)

    return build


# --- S3 on moto's server (tests/cluster/conftest.py has its own, reset per test, for the EC2 backend) ---


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch, moto_url):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return moto_url


@pytest.fixture
def bucket(aws_env, request):
    name = "perfgate-" + request.node.name.replace("_", "-")[:40].lower()
    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket=name)
    return name
