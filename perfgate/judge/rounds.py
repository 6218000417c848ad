"""Round-level metrics: one :class:`RoundMetrics` per (side, request name) of a round.

The round, not the request, is the unit of evidence (docs/architecture.md, Statistics):
every statistic downstream compares these per-round values, never pooled samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfgate.model import RoundMetrics, RoundRecord, Side

#: Latency quantiles computed per round, as metric name -> quantile.
QUANTILES: dict[str, float] = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}
#: Every metric a RoundMetrics carries.
ROUND_METRICS = (*QUANTILES, "mean", "throughput", "error_rate")
#: Resource metrics of the target, judged (lower is better) when listed in [judge] metrics;
#: ``cpu_per_request`` is judged by default.
RESOURCE_METRICS = ("rss_peak", "queue_peak", "cpu_mean", "cpu_per_request")
#: The request name under which a side's target resources are judged.
TARGET_NAME = "(target)"
#: Name of the optional all-requests aggregate.
ALL_NAMES = "(all)"


#: How a round's quantiles are estimated: "hd" (Harrell-Davis) or "linear" (numpy's default).
ESTIMATORS = ("hd", "linear")
DEFAULT_ESTIMATOR = "linear"


def harrell_davis(values: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """Harrell-Davis quantile estimates (scipy's ``hdquantiles``).

    Every order statistic is weighted by a Beta((n+1)q, (n+1)(1-q)) kernel instead of
    using the one or two values next to the quantile, so a round's p95 of a few hundred
    requests varies less from round to round than the interpolated one.
    """
    from scipy.stats.mstats import hdquantiles  # scipy.stats costs ~1 s to import: only when used

    return np.asarray(hdquantiles(values, prob=quantiles), dtype=float)


def latency_values(latency_us: np.ndarray, estimator: str = DEFAULT_ESTIMATOR) -> dict[str, float]:
    """Quantiles (by ``estimator``) and mean of ok latencies."""
    if latency_us.size == 0:
        return {**{k: float("nan") for k in QUANTILES}, "mean": float("nan")}
    levels = list(QUANTILES.values())
    qs = (
        harrell_davis(latency_us, levels)
        if estimator == "hd" and latency_us.size > 1
        else np.quantile(latency_us, levels)
    )
    return {**dict(zip(QUANTILES, map(float, qs))), "mean": float(latency_us.mean())}


def round_metrics(
    samples: pd.DataFrame, record: RoundRecord, *, aggregate: bool = False, estimator: str = DEFAULT_ESTIMATOR
) -> list[RoundMetrics]:
    """Metrics of one round, one item per (side, name) present after warm-up.

    ``throughput`` is ok requests per second over the measured window
    (``record.ended_ns - record.measure_start_ns``); ``error_rate`` is failed/total;
    latency metrics are over ok requests. ``aggregate=True`` adds a name
    ``"(all)"`` per side (for reports; the verdict judges each name on its own).
    """
    window_s = max(record.ended_ns - record.measure_start_ns, 1) / 1e9
    # Factorize the string columns whole (cheap on Arrow strings), then subset the codes.
    side_codes, sides = pd.factorize(samples["side"], sort=True)
    name_codes, names = pd.factorize(samples["name"], sort=True)
    measured = ~samples["warmup"].to_numpy(dtype=bool, na_value=False) & (side_codes >= 0) & (name_codes >= 0)
    ok = samples["ok"].to_numpy(dtype=bool, na_value=False)[measured]
    latency = samples["latency_us"].to_numpy(dtype=np.float64, na_value=np.nan)[measured]
    side_codes, name_codes = side_codes[measured], name_codes[measured]

    # One small integer per (side, name); a stable (radix) sort groups every row.
    width = len(names)
    codes = side_codes.astype(np.int64) * width + name_codes
    dtype = np.int16 if len(sides) * width < 2**15 else np.int64
    order = np.argsort(codes.astype(dtype), kind="stable")
    counts = np.bincount(codes, minlength=len(sides) * width)
    bounds = np.concatenate([[0], np.cumsum(counts)])

    out: list[RoundMetrics] = []
    for code in np.flatnonzero(counts):
        rows = order[bounds[code] : bounds[code + 1]]
        side_value, name_value = sides[int(code // width)], names[int(code % width)]
        out.append(_one(record, str(side_value), str(name_value), ok[rows], latency[rows], window_s, estimator))
    if aggregate and len(names) > 1:
        for code in np.unique(side_codes):
            side_value, rows = sides[code], np.flatnonzero(side_codes == code)
            out.append(_one(record, str(side_value), ALL_NAMES, ok[rows], latency[rows], window_s, estimator))
    return out


def _one(
    record: RoundRecord, side: str, name: str, ok: np.ndarray, latency: np.ndarray, window_s: float, estimator: str
) -> RoundMetrics:
    good = latency[ok & np.isfinite(latency)]
    total = int(ok.size)
    errors = int(total - np.count_nonzero(ok))
    values = latency_values(good, estimator)
    values["throughput"] = good.size / window_s
    values["error_rate"] = errors / total if total else float("nan")
    return RoundMetrics(
        round_index=record.index,
        pair=record.pair,
        scenario=record.scenario,
        side=Side(side),
        name=name,
        values=values,
        count=total,
        errors=errors,
    )


def resource_metrics(
    resources: pd.DataFrame, record: RoundRecord, samples: pd.DataFrame | None = None
) -> list[RoundMetrics]:
    """The target's resources per side over the measured window.

    Peak RSS, peak queue depth and mean CPU catch what latency alone hides, such as
    messages queueing in RAM behind a slow peer. With the round's ``samples``, also
    ``cpu_per_request``: the process tree's CPU time over the window divided by the
    requests that side served in it (see :func:`cpu_per_request`).
    """
    if resources.empty:
        return []
    rows = resources[(resources["t_ns"] >= record.measure_start_ns) & (resources["process"] == "target")]
    out = []
    for side, group in rows.groupby("side", sort=True):
        queue = group["queue_depth"].dropna()
        values = {
            "rss_peak": float(group["rss_bytes"].max()),
            "cpu_mean": float(group["cpu_percent"].mean()),
            "queue_peak": float(queue.max()) if len(queue) else float("nan"),
        }
        count = len(group)
        if samples is not None and "cpu_time_s" in group:
            sent = samples["t_ns"][(samples["side"] == side) & ~samples["warmup"].astype(bool)]
            values["cpu_per_request"], count = cpu_per_request(
                group["t_ns"].to_numpy(np.int64), group["cpu_time_s"].to_numpy(np.float64), sent.to_numpy(np.int64)
            )
        out.append(
            RoundMetrics(
                round_index=record.index,
                pair=record.pair,
                scenario=record.scenario,
                side=Side(str(side)),
                name=TARGET_NAME,
                values=values,
                count=count,
                errors=0,
            )
        )
    return out


def cpu_per_request(t_ns: np.ndarray, cpu_time_s: np.ndarray, sent_ns: np.ndarray) -> tuple[float, int]:
    """(µs of target CPU per request, requests) between the first and last CPU reading.

    The CPU clock is read every 250 ms; the requests counted are those sent between
    the first and the last reading, so both sides of the ratio cover one window.
    Queueing and scheduling barely change it: it moves with the work each request
    costs, which is what a CPU regression changes.
    """
    ok = np.isfinite(cpu_time_s)
    t_ns, cpu_time_s = t_ns[ok], cpu_time_s[ok]
    if t_ns.size < 2:
        return float("nan"), 0
    first, last = int(np.argmin(t_ns)), int(np.argmax(t_ns))
    requests = int(np.count_nonzero((sent_ns >= t_ns[first]) & (sent_ns < t_ns[last])))
    used_s = float(cpu_time_s[last] - cpu_time_s[first])
    return (used_s * 1e6 / requests if requests else float("nan")), requests
