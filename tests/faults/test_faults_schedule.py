"""Timed fault schedules and the slowness monkey, against real proxies."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from perfgate.errors import FaultError
from perfgate.faults import (
    FaultSpec,
    MonkeyMix,
    ProxyServer,
    ProxyThread,
    parse_fault,
    parse_faults,
    run_schedule,
    slowness_monkey,
    start_schedule,
)
from perfgate.model import Window
from tests.faults.helpers_faults import TcpServer, connect, timed_echo


def test_schedule_applies_and_records_windows(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("svc", upstream=echo.addr)
    specs = parse_faults(
        [
            {"at": "200ms", "for": 0.6, "link": "svc", "toxic": "latency", "latency": 150},
            {"at": 0.0, "for": "100ms", "link": "svc", "toxic": "stall", "stream": "upstream"},
        ]
    )
    samples: list[tuple[int, float]] = []
    stop = threading.Event()

    def client() -> None:
        with connect(p.listen_port) as s:
            while not stop.is_set() and len(samples) < 10_000:
                sent = time.time_ns()
                samples.append((sent, timed_echo(s)[1]))

    begun = time.time_ns()
    thread = threading.Thread(target=client)
    thread.start()
    try:
        windows = start_schedule(pt, specs).result()
    finally:
        stop.set()
        thread.join(10)
    assert [w.kind for w in windows] == ["fault", "fault"]
    lat, stall = windows
    assert isinstance(lat, Window) and "latency" in lat.label and "svc" in lat.label
    for w, spec in zip(windows, specs):
        assert begun <= w.detail.planned_start_ns <= w.start_ns < w.end_ns
        assert w.end_ns >= w.detail.planned_end_ns
        assert w.end_ns - w.start_ns >= spec.duration_s * 1e9 * 0.9
        assert w.detail.link == "svc" and w.detail.toxic == spec.toxic
    inside = [took for sent, took in samples if lat.start_ns <= sent and sent + took * 1e9 <= lat.end_ns]
    assert inside and all(took >= 0.14 for took in inside)
    assert pt.server.get("svc").toxics == []  # everything removed at the end


def test_down_window_refuses_connections(echo: TcpServer) -> None:
    async def main() -> tuple[Window, bool]:
        async with ProxyServer() as srv:
            p = await srv.create("svc", upstream=echo.addr)
            task = asyncio.create_task(run_schedule(srv, [{"at": 0, "for": 0.3, "link": "svc", "toxic": "down"}]))
            await asyncio.sleep(0.1)
            try:
                await asyncio.open_connection("127.0.0.1", p.listen_port)
                refused = False
            except ConnectionRefusedError:
                refused = True
            (window,) = await task
            _, writer = await asyncio.open_connection("127.0.0.1", p.listen_port)  # up again
            writer.close()
            return window, refused

    window, refused = asyncio.run(main())
    assert refused and window.label == "down on svc"


def test_cancelling_a_schedule_removes_its_toxics(echo: TcpServer) -> None:
    async def main() -> list[object]:
        async with ProxyServer() as srv:
            p = await srv.create("svc", upstream=echo.addr)
            task = asyncio.create_task(
                run_schedule(srv, [{"at": 0, "for": 30, "link": "svc", "toxic": "latency", "latency": 10}])
            )
            await asyncio.sleep(0.1)
            assert len(p.toxics) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return p.toxics

    assert asyncio.run(main()) == []


def test_unknown_link_is_rejected_before_starting(echo: TcpServer) -> None:
    async def main() -> None:
        async with ProxyServer() as srv:
            await srv.create("svc", upstream=echo.addr)
            await run_schedule(srv, [{"at": 0, "for": 1, "link": "db", "toxic": "stall"}])

    with pytest.raises(FaultError, match=r"faults\[0\].*'db'"):
        asyncio.run(main())


@pytest.mark.parametrize(
    "entry,key",
    [
        ({"for": 1, "link": "a", "toxic": "stall"}, "'at'"),
        ({"at": "soon", "for": 1, "link": "a", "toxic": "stall"}, "'at'"),
        ({"at": 1, "for": 0, "link": "a", "toxic": "stall"}, "'for'"),
        ({"at": 1, "for": 1, "link": "", "toxic": "stall"}, "'link'"),
        ({"at": 1, "for": 1, "link": "a", "toxic": "lag"}, "'type'"),
        ({"at": 1, "for": 1, "link": "a", "toxic": "latency", "latncy": 3}, "'latncy'"),
        ({"at": 1, "for": 1, "link": "a", "toxic": "latency", "stream": "up"}, "'stream'"),
        ({"at": 1, "for": 1, "link": "a", "toxic": "latency", "toxicity": 2}, "'toxicity'"),
        ({"at": 1, "for": 1, "link": "a", "toxic": "down", "latency": 3}, "'latency'"),
    ],
)
def test_fault_entry_errors_name_the_key(entry: dict, key: str) -> None:
    with pytest.raises(FaultError, match=key):
        parse_faults([{"at": 0, "for": 1, "link": "a", "toxic": "stall"}, entry])
    with pytest.raises(FaultError, match=r"faults\[1\]"):
        parse_faults([{"at": 0, "for": 1, "link": "a", "toxic": "stall"}, entry])


def test_fault_spec_round_trips() -> None:
    spec = parse_fault(
        {
            "at": "1.5s",
            "for": "250ms",
            "link": "db",
            "toxic": "latency",
            "latency": 80,
            "toxicity": 0.5,
            "toxicity_mode": "chunk",
        }
    )
    assert spec == FaultSpec(1.5, 0.25, "db", "latency", "downstream", 0.5, {"latency": 80, "jitter": 0}, "chunk")
    assert parse_fault(spec.to_dict()) == spec


def test_monkey_is_deterministic_per_seed() -> None:
    a = slowness_monkey(42, 120, 5, ["db", "cache"], MonkeyMix(reset_peer=0.5))
    assert a == slowness_monkey(42, 120, 5, ["db", "cache"], MonkeyMix(reset_peer=0.5))
    assert a != slowness_monkey(43, 120, 5, ["db", "cache"], MonkeyMix(reset_peer=0.5))
    assert len(a) > 5
    assert {s.toxic for s in a} == {"stall", "latency", "reset_peer"}
    assert {s.proxy for s in a} == {"db", "cache"}
    assert all(s.at_s > 0 and s.at_s + s.duration_s <= 120 + 1e-6 for s in a)
    assert [s.at_s for s in a] == sorted(s.at_s for s in a)


def test_monkey_respects_the_mix() -> None:
    mix = MonkeyMix.from_dict({"stall": 1, "latency": 0, "stall_ms": [100, 200]})
    specs = slowness_monkey(1, 60, 2, ["db"], mix)
    assert specs and all(s.toxic == "stall" and 0.1 <= s.duration_s <= 0.2 for s in specs)
    with pytest.raises(FaultError, match="'stal'"):
        MonkeyMix.from_dict({"stal": 1})
    with pytest.raises(FaultError, match="'latency_ms'"):
        MonkeyMix(latency_ms=(5, 1))


def test_monkey_faults_run_on_the_scheduler(echo: TcpServer) -> None:
    specs = slowness_monkey(3, 1.0, 0.2, ["svc"], MonkeyMix(stall_ms=(20, 50), spike_ms=(20, 50)))

    async def main() -> list[Window]:
        async with ProxyServer() as srv:
            await srv.create("svc", upstream=echo.addr)
            return await run_schedule(srv, specs)

    windows = asyncio.run(main())
    assert len(windows) == len(specs)
    assert all(w.detail.toxic == s.toxic for w, s in zip(windows, specs))
