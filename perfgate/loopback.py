"""Talking to processes on this machine: never through an HTTP proxy.

``urllib`` honours ``http_proxy`` from the environment, and so does Locust's
``requests``; with a proxy set and no ``no_proxy``, every readiness probe and
every load request to 127.0.0.1 would go to the proxy. Loopback probes use
:func:`urlopen` (a proxy-less opener), and load processes get
:func:`no_proxy_env` in their environment.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from http.client import HTTPResponse

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def urlopen(url: str, timeout: float) -> HTTPResponse:
    """``urllib.request.urlopen`` without any proxy, whatever the environment says."""
    response: HTTPResponse = _OPENER.open(url, timeout=timeout)  # http(s) URLs open as an HTTPResponse
    return response


def no_proxy_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``no_proxy`` and ``NO_PROXY`` with the loopback hosts added to what they already hold."""
    out: dict[str, str] = {}
    for name in ("no_proxy", "NO_PROXY"):
        hosts = [h.strip() for h in environ.get(name, "").split(",") if h.strip()]
        out[name] = ",".join([*hosts, *(h for h in LOOPBACK_HOSTS if h not in hosts)])
    return out
