"""Transcript export throughput and memory, against the sandbox.

    uv run python bench/export_throughput.py            # ~2-3 minutes
    uv run python bench/export_throughput.py --quick    # smaller, for a smoke run

One sandbox with 50,000 transcripts and 10 ms of injected latency per request. For one window of
5,000 transcripts it times:

* the operator (``XentreeTranscriptExportOperator``, default ``max_workers=8``);
* a naive loop a user would write: ``requests.get`` per list page and per transcript, no session,
  sequential;
* a hand-tuned client: one ``requests.Session`` (pool sized to the workers) and a thread pool of the
  same concurrency as the operator; our practical ceiling.

Goals: operator >= 5x the naive loop and >= 0.9x the hand-tuned client. Then it measures peak RSS of
a child process exporting a 5,000 and a 50,000 transcript window (goal: growth < 30 MB), each in its
own process so the numbers are independent, for each of ``--rss-formats`` (default: JSON lines,
gzip-compressed JSON lines and Parquet), with the size of each file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

ANCHOR = "2026-03-01"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # before Airflow is imported
KEY_NAME = "live"


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` memory field in KB (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _rss_now_kb() -> int:
    return _status_kb("VmRSS")


def _rss_peak_kb() -> int:
    # VmHWM, not getrusage's ru_maxrss: that one survives fork + exec, so a child would report the
    # parent's size.
    return _status_kb("VmHWM")


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


# -- the peers -------------------------------------------------------------------------------------


def naive_export(url: str, key: str, start: datetime, end: datetime, out: Path) -> int:
    """What a user would write first: requests.get everywhere, one at a time."""
    headers = {"X-API-Key": key}
    ids: list[tuple[str, str]] = []
    offset = 0
    while True:
        page = requests.get(
            f"{url}/api/live/transcripts",
            params={"limit": 50, "offset": offset},
            headers=headers,
            timeout=60,
        ).json()
        for item in page:
            started = _parse(item["session_started_at"])
            if start <= started < end:
                ids.append((item["session_started_at"], item["id"]))
        if len(page) < 50 or _parse(page[-1]["session_started_at"]) < start:
            break
        offset += 50
    lines = []
    for _, tid in sorted(ids):
        detail = requests.get(f"{url}/api/live/transcripts/{tid}", headers=headers, timeout=60).json()
        lines.append(json.dumps(detail))
    out.write_text("\n".join(lines) + "\n")
    return len(lines)


def tuned_export(url: str, key: str, start: datetime, end: datetime, out: Path, workers: int) -> int:
    """A careful hand-written client: pooled session, big pages, a thread pool of ``workers``."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=workers)
    session.mount("http://", adapter)
    session.headers["X-API-Key"] = key
    ids: list[tuple[str, str]] = []
    offset = 0
    while True:
        page = session.get(
            f"{url}/api/live/transcripts", params={"limit": 200, "offset": offset}, timeout=60
        ).json()
        for item in page:
            started = _parse(item["session_started_at"])
            if start <= started < end:
                ids.append((item["session_started_at"], item["id"]))
        if len(page) < 200 or _parse(page[-1]["session_started_at"]) < start:
            break
        offset += 200

    def fetch(tid: str) -> str:
        return json.dumps(session.get(f"{url}/api/live/transcripts/{tid}", timeout=60).json())

    with ThreadPoolExecutor(workers) as pool, out.open("w") as handle:
        count = 0
        for line in pool.map(fetch, [tid for _, tid in sorted(ids)]):
            handle.write(line + "\n")
            count += 1
    session.close()
    return count


def operator_export(start: datetime, end: datetime, out: Path, workers: int) -> dict[str, Any]:
    """The provider's operator (connection from ``AIRFLOW_CONN_XENTREE_DEFAULT``)."""
    from xentree_provider.operators.live import XentreeTranscriptExportOperator

    op = XentreeTranscriptExportOperator(task_id="bench", output_path=str(out), max_workers=workers)
    return op.execute({"data_interval_start": start, "data_interval_end": end})  # type: ignore[arg-type]


# -- the RSS child ---------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Run one export in this (fresh) process; print baseline and peak RSS as JSON."""
    import logging

    from xentree_provider._task.outputs import output_path
    from xentree_provider.hooks.xentree import XentreeHook
    from xentree_provider.operators.live import XentreeTranscriptExportOperator

    logging.disable(logging.INFO)
    # What every task has before its first record: modules imported, connection read, client built.
    XentreeHook().transport  # noqa: B018
    output_path(args.out).parent.exists()
    export_format, _, compression = args.format.partition(".")
    if export_format == "parquet":
        import pyarrow.parquet  # noqa: F401 - a module import is not memory per transcript
    baseline = _rss_now_kb()
    op = XentreeTranscriptExportOperator(
        task_id="rss",
        output_path=args.out,
        max_workers=args.workers,
        export_format=export_format,
        compression={"gz": "gzip"}.get(compression),
    )
    result = op.execute(
        {"data_interval_start": _parse(args.start), "data_interval_end": _parse(args.end)}  # type: ignore[arg-type]
    )
    peak = _rss_peak_kb()
    print(
        json.dumps(
            {"baseline_kb": baseline, "peak_kb": peak, "count": result["count"], "bytes": result["bytes"]}
        )
    )


def rss_run(start: datetime, end: datetime, out: Path, workers: int, fmt: str = "jsonl") -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--format",
        fmt,
    ]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"RSS child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- main ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transcripts", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=5_000, help="transcripts in the timed window")
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the operator and the tuned client")
    parser.add_argument("--rss-latency-ms", type=float, default=0.0, help="latency during the RSS runs")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--rss-only", action="store_true", help="skip the timed runs")
    parser.add_argument(
        "--rss-formats",
        default="jsonl,jsonl.gz,parquet",
        help="formats of the RSS runs: jsonl, jsonl.gz, csv, csv.gz, parquet (comma-separated)",
    )
    parser.add_argument("--format", default="jsonl", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="10,000 transcripts, a 1,000 window")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    if args.quick:
        args.transcripts, args.window = 10_000, 1_000

    import logging

    from xentree_provider.hooks.xentree import XentreeHook
    from xentree_provider.testing import SandboxServer

    logging.disable(logging.INFO)
    workdir = Path(tempfile.mkdtemp(prefix="xentree-bench-"))
    with SandboxServer(transcripts=args.transcripts, anchor=ANCHOR) as sandbox:
        os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = sandbox.connection_env(KEY_NAME)
        key = sandbox.api_key(KEY_NAME)
        print(f"sandbox {sandbox.url}: {args.transcripts} transcripts; workers={args.workers}")

        # Pick a window of about args.window transcripts, a little below the newest ones.
        hook = XentreeHook()
        starts = [_parse(t["session_started_at"]) for t in hook.iter_transcripts(page_size=200)]
        hook.close()
        skip = min(1000, len(starts) - args.window - 1)
        end = starts[skip - 1] if skip > 0 else starts[0] + timedelta(seconds=1)
        start = starts[skip + args.window - 1]
        expected = sum(1 for s in starts if start <= s < end)
        print(f"window [{start.isoformat()}, {end.isoformat()}): {expected} transcripts")

        if not args.rss_only:
            sandbox.set_faults(latency_ms=args.latency_ms)
            print(
                f"latency {args.latency_ms:.0f} ms per request; best of {args.repeat} for operator and tuned"
            )
            import xentree_provider.operators.live  # noqa: F401 - imports are not throughput

            timings: dict[str, float] = {"operator": float("inf"), "tuned": float("inf")}
            counts: dict[str, int] = {}
            for _ in range(args.repeat):  # interleaved, so drift in the machine's load hits both alike
                began = time.perf_counter()
                counts["operator"] = operator_export(start, end, workdir / "operator.jsonl", args.workers)[
                    "count"
                ]
                timings["operator"] = min(timings["operator"], time.perf_counter() - began)

                began = time.perf_counter()
                counts["tuned"] = tuned_export(
                    sandbox.url, key, start, end, workdir / "tuned.jsonl", args.workers
                )
                timings["tuned"] = min(timings["tuned"], time.perf_counter() - began)

            began = time.perf_counter()
            counts["naive"] = naive_export(sandbox.url, key, start, end, workdir / "naive.jsonl")
            timings["naive"] = time.perf_counter() - began

            for name in ("operator", "tuned", "naive"):
                rate = counts[name] / timings[name]
                print(f"  {name:<9} {timings[name]:7.2f} s  {counts[name]:>6} transcripts  {rate:8.1f} /s")
            assert counts["operator"] == counts["tuned"] == counts["naive"] == expected, counts
            vs_naive = timings["naive"] / timings["operator"]
            vs_tuned = timings["tuned"] / timings["operator"]
            verdict = {True: "ok", False: "MISSED"}
            print(f"operator vs naive loop:        {vs_naive:5.2f}x  (goal >= 5x)   {verdict[vs_naive >= 5]}")
            print(
                f"operator vs hand-tuned client: {vs_tuned:5.2f}x  (goal >= 0.9x) {verdict[vs_tuned >= 0.9]}"
            )

        if not args.no_rss:
            sandbox.set_faults(latency_ms=args.rss_latency_ms)
            everything_window = (
                datetime(2000, 1, 1, tzinfo=timezone.utc),
                datetime(2100, 1, 1, tzinfo=timezone.utc),
            )
            for fmt in args.rss_formats.split(","):
                small = rss_run(start, end, workdir / f"rss_small.{fmt}", args.workers, fmt)
                everything = rss_run(*everything_window, workdir / f"rss_all.{fmt}", args.workers, fmt)
                print(f"RSS, format {fmt}:")
                for label, run in (("small window", small), ("all", everything)):
                    base, peak = run["baseline_kb"] / 1024, run["peak_kb"] / 1024
                    print(
                        f"  RSS {label:<12} {run['count']:>6} transcripts  "
                        f"{run['bytes'] / 1e6:7.1f} MB written  "
                        f"baseline {base:6.1f} MB  peak {peak:6.1f} MB  (+{peak - base:.1f} MB)"
                    )
                growth = (everything["peak_kb"] - small["peak_kb"]) / 1024
                print(
                    f"  peak RSS growth {small['count']} -> {everything['count']} transcripts ({fmt}): "
                    f"{growth:.1f} MB (goal < 30 MB) {'ok' if growth < 30 else 'MISSED'}"
                )
    for path in workdir.iterdir():
        path.unlink()
    workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
