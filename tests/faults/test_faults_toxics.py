"""Every toxic's semantics, on real loopback sockets through the proxy (stdlib loop and uvloop)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest

from perfgate.errors import FaultError, PortInUseError
from perfgate.faults import ProxyThread, make_toxic
from perfgate.faults.toxics import Slicer
from tests.faults.helpers_faults import TcpServer, connect, recv_all, recv_exactly, timed_echo


def test_passes_bytes_intact_both_ways(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    payload = os.urandom(2_000_000)
    with connect(p.listen_port) as s:
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        got = recv_exactly(s, len(payload))
        sender.join()
    assert got == payload


def test_server_that_speaks_first_reaches_the_client(pt: ProxyThread, greeter: TcpServer) -> None:
    p = pt.create("greet", upstream=greeter.addr)
    for _ in range(50):  # the upstream's bytes may arrive before the proxy's connect returns
        with connect(p.listen_port) as s:
            assert recv_all(s) == bytes(range(100))


def test_half_close_still_gets_the_reply(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "latency", attributes={"latency": 50})
    with connect(p.listen_port) as s:
        s.sendall(b"last words")
        s.shutdown(socket.SHUT_WR)  # as `nc -N`: the reply still comes back, then EOF
        assert recv_all(s) == b"last words"


def test_stopping_the_thread_closes_everything(echo: TcpServer) -> None:
    thread = ProxyThread().start()
    p = thread.create("echo", upstream=echo.addr)
    s = connect(p.listen_port)
    try:
        assert timed_echo(s)[0] == b"ping"
        thread.stop()
        assert recv_all(s) == b""
        with pytest.raises(ConnectionRefusedError):
            connect(p.listen_port)
    finally:
        s.close()
        thread.stop()


def test_latency_delays_each_direction(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    with connect(p.listen_port) as s:
        assert timed_echo(s)[0] == b"ping"
        pt.add_toxic("echo", "latency", attributes={"latency": 200})  # on a live connection
        data, took = timed_echo(s)
        assert data == b"ping" and took >= 0.19
        pt.add_toxic("echo", "latency", stream="upstream", attributes={"latency": 100})
        data, took = timed_echo(s)
        assert data == b"ping" and took >= 0.29
    names = [t.name for t in pt.server.get("echo").toxics]
    assert names == ["latency_upstream", "latency_downstream"]  # Toxiproxy's order and default names


def test_latency_jitter_stays_in_range(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "latency", attributes={"latency": 100, "jitter": 50})
    with connect(p.listen_port) as s:
        for _ in range(5):
            assert timed_echo(s)[1] >= 0.049


def test_removing_a_toxic_releases_held_data(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "latency", attributes={"latency": 30_000})
    with connect(p.listen_port, timeout=10) as s:
        s.sendall(b"held")
        time.sleep(0.1)
        pt.remove_toxic("echo", "latency_downstream")
        start = time.perf_counter()
        assert recv_exactly(s, 4) == b"held"
        assert time.perf_counter() - start < 30  # released on removal, not after the latency


def test_bandwidth_limits_the_rate(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "bandwidth", attributes={"rate": 100})  # 100 KB/s
    payload = os.urandom(50_000)
    with connect(p.listen_port) as s:
        start = time.perf_counter()
        s.sendall(payload)
        assert recv_exactly(s, len(payload)) == payload
        assert time.perf_counter() - start >= 0.45  # 50 KB at 100 KB/s is 0.5 s


def test_slow_close_delays_the_close(pt: ProxyThread, greeter: TcpServer) -> None:
    p = pt.create("greet", upstream=greeter.addr)
    pt.add_toxic("greet", "slow_close", attributes={"delay": 300})
    with connect(p.listen_port) as s:
        start = time.perf_counter()
        assert recv_exactly(s, 100) == bytes(range(100))
        assert s.recv(10) == b""
        assert time.perf_counter() - start >= 0.29


def test_timeout_stops_data_then_closes(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "timeout", attributes={"timeout": 300})
    start = time.perf_counter()
    with connect(p.listen_port) as s:
        s.sendall(b"ping")
        assert recv_all(s) == b""  # nothing came through, then the proxy closed
        assert time.perf_counter() - start >= 0.29


def test_timeout_zero_holds_data_until_removed(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "timeout", stream="upstream", attributes={"timeout": 0})
    with connect(p.listen_port) as s:
        s.sendall(b"ping")
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(10)
        s.settimeout(5)
        pt.remove_toxic("echo", "timeout_upstream")
        assert recv_exactly(s, 4) == b"ping"


def test_reset_peer_resets_the_connection(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "reset_peer", attributes={"timeout": 100})
    with connect(p.listen_port) as s:
        start = time.perf_counter()
        s.sendall(b"ping")
        with pytest.raises(ConnectionResetError):
            recv_all(s)
        assert time.perf_counter() - start >= 0.09


def test_slicer_splits_data_into_small_chunks(pt: ProxyThread, greeter: TcpServer) -> None:
    p = pt.create("greet", upstream=greeter.addr)
    pt.add_toxic("greet", "slicer", attributes={"average_size": 10, "size_variation": 4, "delay": 20_000})
    chunks = []
    with connect(p.listen_port) as s:
        while chunk := s.recv(1000):
            chunks.append(chunk)
    assert b"".join(chunks) == bytes(range(100))
    assert len(chunks) >= 5
    assert min(len(c) for c in chunks) < 100


def test_slicer_cuts_follow_toxiproxy() -> None:
    import random

    slicer = Slicer(average_size=10, size_variation=4)
    for seed in range(20):
        cuts = slicer.cuts(random.Random(seed), 0, 1000)
        assert cuts[0] == 0 and cuts[-1] == 1000 and cuts == sorted(set(cuts))
        assert all(b - a <= 14 for a, b in zip(cuts, cuts[1:]))
    assert Slicer(average_size=0).cuts(random.Random(1), 0, 7) == list(range(8))  # no endless recursion


def test_limit_data_closes_after_n_bytes(pt: ProxyThread, greeter: TcpServer) -> None:
    p = pt.create("greet", upstream=greeter.addr)
    pt.add_toxic("greet", "limit_data", attributes={"bytes": 42})
    with connect(p.listen_port) as s:
        assert recv_all(s) == bytes(range(42))


def test_stall_pauses_then_resumes_without_loss(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    payload = os.urandom(300_000)
    with connect(p.listen_port) as s:
        start = time.perf_counter()
        pt.add_toxic("echo", "stall", attributes={"duration": 300})
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        assert recv_exactly(s, len(payload)) == payload
        sender.join()
        assert time.perf_counter() - start >= 0.29
        assert timed_echo(s)[0] == b"ping"  # flowing again after the stall


def test_stall_without_duration_lasts_until_removed(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "stall")
    with connect(p.listen_port) as s:
        s.sendall(b"ping")
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(10)
        s.settimeout(5)
        pt.remove_toxic("echo", "stall_downstream")
        assert recv_exactly(s, 4) == b"ping"


@pytest.mark.parametrize(
    "toxic,attrs",
    [
        ("timeout", {"timeout": 0}),
        ("limit_data", {"bytes": 0}),
        ("reset_peer", {"timeout": 0}),
        ("stall", {"duration": 0}),
    ],
)
def test_toxicity_zero_has_no_effect(pt: ProxyThread, echo: TcpServer, toxic: str, attrs: dict) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", toxic, toxicity=0.0, attributes=attrs)
    pt.add_toxic("echo", toxic, name="chunk", toxicity=0.0, toxicity_mode="chunk", attributes=attrs)
    with connect(p.listen_port) as s:
        for _ in range(3):
            assert timed_echo(s)[0] == b"ping"


def test_toxicity_rolls_once_per_connection(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "timeout", toxicity=0.5, attributes={"timeout": 0})
    outcomes = []
    for _ in range(12):
        with connect(p.listen_port, timeout=0.2) as s:
            per_conn = []
            for _ in range(2):
                try:
                    per_conn.append(timed_echo(s)[0] == b"ping")
                except TimeoutError:
                    per_conn.append(False)
            assert per_conn[0] == per_conn[1]  # a connection is hit or spared as a whole
            outcomes.append(per_conn[0])
    assert any(outcomes) and not all(outcomes)


def test_chunk_mode_rolls_per_chunk(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    pt.add_toxic("echo", "latency", toxicity=0.5, toxicity_mode="chunk", attributes={"latency": 150})
    with connect(p.listen_port) as s:
        slow = [timed_echo(s)[1] >= 0.15 for _ in range(16)]
    assert any(slow) and not all(slow)  # one connection, some requests hit and some spared
    toxic = pt.server.get("echo").toxics[0].to_json()
    assert toxic["toxicity_mode"] == "chunk"


def test_disabled_proxy_refuses_connections(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("echo", upstream=echo.addr)
    port = p.listen_port
    with connect(port) as s:
        assert timed_echo(s)[0] == b"ping"
        pt.set_enabled("echo", False)
        assert recv_all(s) == b""  # open connections are dropped
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    pt.set_enabled("echo", True)  # back on the same address
    with connect(port) as s:
        assert timed_echo(s)[0] == b"ping"


def test_unreachable_upstream_drops_the_client(pt: ProxyThread) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    p = pt.create("dead", upstream=f"127.0.0.1:{dead}")
    with connect(p.listen_port) as s, contextlib.suppress(ConnectionResetError):
        assert recv_all(s) == b""


def test_taken_listen_port_raises_port_in_use(pt: ProxyThread, echo: TcpServer) -> None:
    p = pt.create("a", upstream=echo.addr)
    with pytest.raises(PortInUseError, match=str(p.listen_port)):
        pt.create("b", listen=p.listen, upstream=echo.addr)


def test_toxic_errors_name_the_key() -> None:
    with pytest.raises(FaultError, match="'type'"):
        make_toxic("lag")
    with pytest.raises(FaultError, match="'stream'"):
        make_toxic("latency", stream="sideways")
    with pytest.raises(FaultError, match="'toxicity'"):
        make_toxic("latency", toxicity=1.5)
    with pytest.raises(FaultError, match="'latncy'"):
        make_toxic("latency", attributes={"latncy": 5})
    with pytest.raises(FaultError, match="'latency'"):
        make_toxic("latency", attributes={"latency": "slow"})
    with pytest.raises(FaultError, match="'toxicity_mode'"):
        make_toxic("latency", toxicity_mode="sometimes")
