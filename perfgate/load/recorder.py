"""Records every request from Locust's ``request`` event into columns.

Locust's own stats round response times to about two significant digits; this
keeps the exact float, in microseconds. The listener only appends to lists, so
it costs the load generator little (see benchmarks/recorder_overhead.py).
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from perfgate.model import SAMPLE_SCHEMA


class Recorder:
    def __init__(self, measure_start_ns: int = 0, default_side: str = ""):
        self.measure_start_ns = measure_start_ns
        self.default_side = default_side
        self._t_ns: list[int] = []
        self._latency_us: list[float] = []
        self._name: list[str] = []
        self._type: list[str] = []
        self._bytes: list[int] = []
        self._error: list[str | None] = []
        self._side: list[str] = []

    def __len__(self) -> int:
        return len(self._t_ns)

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int = 0,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        latency_us = float(response_time or 0.0) * 1000.0
        # custom events may omit start_time: derive it from the latency
        t_ns = time.time_ns() - int(latency_us * 1000) if start_time is None else int(start_time * 1e9)
        self._t_ns.append(t_ns)
        self._latency_us.append(latency_us)
        self._name.append(str(name))
        self._type.append(str(request_type))
        self._bytes.append(int(response_length or 0))
        self._error.append(None if exception is None else f"{type(exception).__name__}: {exception}"[:200])
        self._side.append(str((context or {}).get("side", self.default_side)))

    def to_table(self) -> pa.Table:
        t_ns = pa.array(self._t_ns, type=pa.int64())
        error = pa.array(self._error, type=pa.string())
        warmup = pc.less(t_ns, pa.scalar(self.measure_start_ns, pa.int64()))
        return pa.table(
            {
                "t_ns": t_ns,
                "latency_us": pa.array(self._latency_us, type=pa.float64()),
                "name": pa.array(self._name, type=pa.string()),
                "type": pa.array(self._type, type=pa.string()),
                "ok": pc.is_null(error),
                "bytes": pa.array(self._bytes, type=pa.int64()),
                "error": error,
                "side": pa.array(self._side, type=pa.string()),
                "warmup": warmup,
            },
            schema=SAMPLE_SCHEMA,
        )
