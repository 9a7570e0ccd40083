"""Benchmark: ``bot.anomaly.detect`` on 100,000 series x 180 days, beside numpy baselines.

    python bench/anomaly_scale.py [--series 100000] [--days 180] [--repeat 3] [--csv 20000]

The costs are the labelled series of ``bench/anomaly_data.py`` (5,000 generated, then copied
with their own level and fresh noise up to ``--series``). Measured in the same process, best
of ``--repeat`` runs each (wall time, and CPU time of the process):

  rolling mean   numpy: the 7-day trailing mean of the same array (cumsum), the least any
                 detector must do
  OptScale rule  numpy: cost(D) > mean(cost(D-7 .. D-1)) x 1.30, vectorised
  detect         ``detect(frame, gates=AnomalyGates())`` (all cores), and with one thread

With ``--csv N`` it also times the CLI path on the first N series: writing them as a long
``date,series,cost`` CSV (not timed), ``handlers.detect.run`` (read, detect, write).
Target: detect <= 10 s for 100,000 x 180 on a 2-core machine.
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
from anomaly_data import generate

from bot.anomaly import SeriesFrame, detect
from bot.config_sections import AnomalyGates
from handlers.detect import run


def costs(series: int, days: int, seed: int = 1) -> tuple[SeriesFrame, np.ndarray]:
    base = generate(min(series, 5000), days, seed)
    copies = -(-series // base.values.shape[0])
    rng = np.random.default_rng(seed)
    values = np.tile(base.values, (copies, 1))[:series]
    values *= 10 ** rng.uniform(-0.5, 0.5, (series, 1)) * np.exp(rng.normal(0, 0.03, values.shape))
    names = tuple(f"series-{i:06d}" for i in range(series))
    return SeriesFrame(names, base.start, values), values


def best(work: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(best wall seconds, CPU seconds of that run, result)."""
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu, result))
    return min(runs, key=lambda r: r[0])


def rolling_mean(x: np.ndarray) -> np.ndarray:
    total = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    return (total[:, 7:] - total[:, :-7]) / 7.0


def optscale(x: np.ndarray) -> int:
    mean = rolling_mean(x)[:, :-1]
    return int(np.count_nonzero(x[:, 7:] > mean * 1.30))


def csv_path(frame: SeriesFrame, series: int, gates: AnomalyGates) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "costs.csv", Path(folder) / "alerts.csv"
        with source.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["date", "series", "cost"])
            for i in range(frame.days):
                day = (frame.start + timedelta(days=i)).isoformat()
                writer.writerows((day, frame.names[s], f"{frame.values[s, i]:.4f}")
                                 for s in range(series))
        rows = series * frame.days
        wall, cpu, alerts = best(lambda: run(source, target, gates), 1)
        print(f"  CLI detect (CSV {rows:,} rows, {source.stat().st_size / 1e6:.0f} MB): "
              f"{wall:6.2f} s wall {cpu:6.2f} s CPU, {alerts} alerts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--csv", type=int, default=0, help="also time the CLI on N series")
    args = parser.parse_args()
    gates = AnomalyGates()
    frame, values = costs(args.series, args.days)
    print(f"{args.series:,} series x {args.days} days ({values.size:,} cells)")
    figures = [
        ("rolling mean (numpy)", lambda: rolling_mean(values).shape),
        ("OptScale rule (numpy)", lambda: optscale(values)),
        ("detect", lambda: len(detect(frame, gates=gates))),
        ("detect, one thread", lambda: len(detect(frame, gates=gates, workers=1))),
    ]
    results = {}
    for label, work in figures:
        wall, cpu, result = best(work, args.repeat)
        results[label] = wall
        print(f"  {label:<24} {wall:6.2f} s wall {cpu:6.2f} s CPU  -> {result}")
    ratio = results["detect"] / results["OptScale rule (numpy)"]
    print(f"  detect / OptScale rule: {ratio:.0f}x; target detect <= 10 s: "
          f"{'met' if results['detect'] <= 10 else 'MISSED'}")
    if args.csv:
        csv_path(frame, min(args.csv, args.series), gates)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
