"""Real loopback servers and clients for the fault proxy tests."""

from __future__ import annotations

import socket
import socketserver
import threading
import time


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        server: TcpServer = self.server  # type: ignore[assignment]
        try:
            if server.greeting is not None:  # say it, then close
                sock.sendall(server.greeting)
                return
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            pass


class TcpServer(socketserver.ThreadingTCPServer):
    """An echo server on 127.0.0.1, or one that sends ``greeting`` and closes."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, greeting: bytes | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.greeting = greeting
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def recv_all(sock: socket.socket) -> bytes:
    """Everything until EOF."""
    buf = b""
    while chunk := sock.recv(65536):
        buf += chunk
    return buf


def timed_echo(sock: socket.socket, payload: bytes = b"ping") -> tuple[bytes, float]:
    start = time.perf_counter()
    sock.sendall(payload)
    data = recv_exactly(sock, len(payload))
    return data, time.perf_counter() - start
