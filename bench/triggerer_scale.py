"""Deferral at scale: N sensor triggers in ONE event loop, as the Airflow triggerer runs them.

Starts a sandbox (its own process), points ``xentree_default`` at it (user login), and runs ``--triggers``
instances of :class:`~xentree_provider.triggers.condition.XentreeConditionTrigger`, half with the
transcript sensor's condition (``transcripts_in_window``, over a window that never gets a transcript)
and half with the XEL progress sensor's (a threshold never reached), so every trigger keeps polling
every ``--interval`` seconds for ``--seconds``. Their ``run()`` coroutines are driven directly in one
asyncio loop, which is what the triggerer does.

Prints, for this (triggerer) process: CPU time as a share of one core, peak and final RSS, TCP
connections opened (counted at the event loop's ``create_connection``), and from the sandbox: logins,
token refreshes and requests. Then the cost of the same waiting done by ``poke``-mode sensors (one
worker slot held per sensor for the whole wait) and ``reschedule``-mode sensors (a slot per check,
estimated from the measured check latency plus a task start-up cost).

    python bench/triggerer_scale.py                        # 500 and 2,000 triggers, shared vs own polls
    python bench/triggerer_scale.py --seconds 30           # quicker
    python bench/triggerer_scale.py --triggers 2000 --modes shared
    python bench/triggerer_scale.py --unshared             # each trigger its own client and reads

Modes: ``shared`` (shared polls, the default of the trigger), ``own-polls`` (one pooled client, each
trigger reads on its own: the provider before shared polls), ``unshared`` (a client per trigger).
CPU is the process time of this (triggerer) process over the steady wait, after the start-up
interval, also per poll interval and per trigger check, and as a ratio to the first mode.

Goal: 2,000 triggers in ``shared`` mode < 50 % of one core, one login per connection, pooled
connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

ANCHOR = "2026-11-23"
# A window after the sandbox's data: the newest transcript is older, so one page read per check
# answers "not yet" (as a real nightly sensor does while the day is still empty).
WINDOW = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}


def rss_mb() -> float:
    """Current resident set size in MiB (Linux ``/proc``; else the peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def open_sockets() -> int:
    """How many sockets this process has open right now (Linux ``/proc``; -1 elsewhere)."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return -1
    count = 0
    for fd in fds:
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # the descriptor closed meanwhile (e.g. the one listdir used)
            continue
    return count


@contextlib.contextmanager
def redirected_output(path: str) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path`` meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as target:
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class Stats:
    """What the triggers did (filled while they run)."""

    def __init__(self) -> None:
        self.connects = 0
        self.events: list[dict[str, Any]] = []
        self.counters_before: dict[str, Any] = {}


MODES = ("shared", "own-polls", "unshared")
"""``shared``: shared polls and one pooled client per connection (the default);
``own-polls``: one pooled client, each trigger reads on its own (the provider before shared polls);
``unshared``: each trigger its own client and its own reads."""


def make_triggers(count: int, mode: str, interval: float, page_size: int) -> list[Any]:
    """``count`` never-met sensor triggers, alternately the transcript and the XEL progress sensor's."""
    from xentree_provider.conditions.xel import XEL_PROGRESS_CONDITION
    from xentree_provider.hooks.xentree_async import XentreeAsyncHook
    from xentree_provider.triggers.condition import XentreeConditionTrigger

    class BenchTrigger(XentreeConditionTrigger):
        def _hook(self) -> Any:
            if mode == "unshared":
                return XentreeAsyncHook(self.conn_id, shared=False, **self.hook_overrides)
            return super()._hook()

    transcript = {
        "condition": "transcripts_in_window",
        "condition_kwargs": {**WINDOW, "page_size": page_size},
    }
    xel = {"condition": XEL_PROGRESS_CONDITION, "condition_kwargs": {"scope": "user", "threshold": 101}}
    return [
        BenchTrigger(
            conn_id="xentree_default",
            poke_interval=interval,
            deadline=None,
            share_polls=mode == "shared",
            **(transcript if i % 2 == 0 else xel),  # type: ignore[arg-type]
        )
        for i in range(count)
    ]


async def run_triggers(
    count: int, mode: str, args: argparse.Namespace, stats: Stats, sandbox: Any
) -> dict[str, Any]:
    """Run ``count`` triggers in ``mode``: start them over one interval, then measure ``args.seconds``
    of steady waiting; return CPU/wall/memory figures."""
    loop = asyncio.get_running_loop()
    original_connect = loop.create_connection

    async def counting_connect(*a: Any, **kw: Any) -> Any:
        stats.connects += 1
        return await original_connect(*a, **kw)

    loop.create_connection = counting_connect  # type: ignore[method-assign]

    async def drive(trigger: Any) -> None:
        async for event in trigger.run():
            stats.events.append(event.payload)

    rss_before = rss_mb()
    tasks = []
    for trigger in make_triggers(count, mode, args.interval, args.page_size):
        tasks.append(asyncio.create_task(drive(trigger)))
        # The triggerer picks new triggers up in batches; spread the starts over one interval.
        await asyncio.sleep(args.interval / count)
    peak = rss_mb()
    stats.counters_before = await asyncio.to_thread(sandbox.counters)
    cpu0, wall0 = time.process_time(), time.monotonic()
    end = wall0 + args.seconds
    while time.monotonic() < end:
        await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
        peak = max(peak, rss_mb())
    sockets_at_end = open_sockets()
    cpu1, wall1 = time.process_time(), time.monotonic()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "cpu_seconds": cpu1 - cpu0,
        "wall_seconds": wall1 - wall0,
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak,
        "sockets_at_end": float(sockets_at_end),
    }


def mean_check_latency(url: str, token_env: str, page_size: int, samples: int = 20) -> float:
    """Mean seconds of one sync check (the poke/reschedule sensor's work), measured with XentreeHook."""
    from xentree_provider.hooks.xentree import XentreeHook

    os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = token_env
    hook = XentreeHook()
    started = time.monotonic()
    for _ in range(samples):
        for _row in hook.iter_transcripts(page_size=page_size):
            break
    return (time.monotonic() - started) / samples


def _requests(counters: dict[str, Any], prefix: str) -> int:
    return sum(int(n) for route, n in counters["requests"].items() if route.startswith(prefix))


def measure(count: int, mode: str, args: argparse.Namespace, sandbox: Any) -> dict[str, Any]:
    """One run: ``count`` triggers in ``mode``, on a sandbox with fresh counters."""
    sandbox.reset_counters()
    stats = Stats()
    # The triggerer writes each trigger's log lines to files; so does this run (not to the terminal).
    log_path = os.path.join(tempfile.mkdtemp(prefix="xentree-triggerer-bench-"), "triggers.log")
    with redirected_output(log_path):
        figures = asyncio.run(run_triggers(count, mode, args, stats, sandbox))
    after = sandbox.counters()
    wall, cpu = figures["wall_seconds"], figures["cpu_seconds"]
    intervals = wall / args.interval
    steady = {
        name: (_requests(after, prefix) - _requests(stats.counters_before, prefix)) / wall
        for name, prefix in (
            ("list_reads_per_s", "GET /api/live/transcripts"),
            ("xel_reads_per_s", "GET /api/xel/"),
        )
    }
    return {
        "triggers": count,
        "mode": mode,
        "interval_s": args.interval,
        "seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 3),
        "cpu_share_of_one_core": round(cpu / wall, 4),
        "cpu_ms_per_interval": round(1000 * cpu / intervals, 2),
        "cpu_us_per_trigger_check": round(1e6 * cpu / intervals / count, 1),
        **{name: round(value, 2) for name, value in steady.items()},
        "logins": int(after["logins"]),
        "refreshes": int(after["refreshes"]),
        "tcp_connections_opened": stats.connects,
        "sockets_open_at_end": int(figures["sockets_at_end"]),
        "rss_peak_mb": round(figures["rss_peak_mb"], 1),
        "rss_per_trigger_kb": round(1024 * (figures["rss_peak_mb"] - figures["rss_before_mb"]) / count, 1),
        "trigger_errors": sum(1 for e in stats.events if e.get("status") != "success"),
        "trigger_events_before_cancel": len(stats.events),
        "log": log_path,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code (1 when a goal is missed)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--triggers", default="500,2000", help="concurrent triggers, comma-separated (default 500,2000)"
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="steady waiting measured per run (default 60)"
    )
    parser.add_argument("--interval", type=float, default=5.0, help="poke interval in seconds (default 5)")
    parser.add_argument(
        "--page-size", type=int, default=100, help="the sensor's list page size (default 100)"
    )
    parser.add_argument(
        "--modes",
        default="shared,own-polls",
        help=f"comma-separated modes among {', '.join(MODES)}; the first is compared with the others "
        "(default shared,own-polls)",
    )
    parser.add_argument("--unshared", action="store_true", help="shorthand for --modes unshared")
    parser.add_argument(
        "--task-startup",
        type=float,
        default=1.5,
        help="seconds a worker slot is busy starting a task try (reschedule-mode estimate; default 1.5)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args(argv)
    counts = [int(n) for n in str(args.triggers).split(",") if n.strip()]
    modes = ["unshared"] if args.unshared else [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not counts or min(counts) < 1:
        parser.error(
            f"--modes takes {', '.join(MODES)} and --triggers positive counts (got {unknown or counts})"
        )

    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from xentree_provider.testing import SandboxServer

    results = []
    with SandboxServer(anchor=ANCHOR) as sandbox:
        conn_env = sandbox.connection_env()
        os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = conn_env
        for count in counts:
            for mode in modes:
                results.append(measure(count, mode, args, sandbox))
        check = mean_check_latency(sandbox.url, conn_env, args.page_size)

    print(
        f"Deferral at scale: transcript and XEL sensor triggers (half each) in one event loop, "
        f"checking every {args.interval:g} s; {args.seconds:g} s of steady waiting measured per run"
    )
    print(f"  modes: {'; '.join(f'{m}' for m in modes)}  (CPU is this process's CPU time, not wall time)")
    header = (
        f"  {'triggers':>8} {'mode':>10} {'CPU%core':>8} {'CPU ms/intvl':>12} {'us/check':>9}"
        f" {'CPU vs ' + modes[0]:>14}"
        f" {'lists/s':>8} {'xel/s':>7} {'logins':>6} {'TCP':>5} {'errors':>6}"
    )
    print(header)
    for result in results:
        reference = next(r for r in results if r["triggers"] == result["triggers"] and r["mode"] == modes[0])
        ratio = result["cpu_seconds"] / reference["cpu_seconds"] if reference["cpu_seconds"] else float("nan")
        result["cpu_ratio_vs_first_mode"] = round(ratio, 2)
        print(
            f"  {result['triggers']:>8} {result['mode']:>10} {100 * result['cpu_share_of_one_core']:>7.1f}%"
            f" {result['cpu_ms_per_interval']:>12.1f} {result['cpu_us_per_trigger_check']:>9.1f}"
            f" {ratio:>13.2f}x"
            f" {result['list_reads_per_s']:>8.1f} {result['xel_reads_per_s']:>7.1f} {result['logins']:>6}"
            f" {result['tcp_connections_opened']:>5} {result['trigger_errors']:>6}"
        )
    print(f"  trigger logs of the last run: {results[-1]['log']} (every run's in --json)")
    largest = max(counts)
    reschedule_slots = largest * (check + args.task_startup) / args.interval
    print(f"  the same waiting for {largest} sensors without deferral:")
    print(f"    poke mode:        {largest} worker slots held for the whole wait")
    print(
        f"    reschedule mode:  ~{reschedule_slots:.0f} worker slots busy on average ({1000 * check:.0f} ms "
        f"per check + {args.task_startup:g} s task start-up, every {args.interval:g} s)"
    )
    print("    deferrable:       0 worker slots; one triggerer process at the CPU share above")
    if args.json:
        print(json.dumps(results, indent=1))
    ok = all(
        not r["trigger_errors"]
        and (r["mode"] == "unshared" or r["logins"] == 1)
        and (r["mode"] != "shared" or r["cpu_share_of_one_core"] < 0.5)
        for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
