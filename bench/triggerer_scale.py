"""Deferral at scale: N transcript-sensor triggers in ONE event loop, as the Airflow triggerer runs them.

Starts a sandbox (its own process), points ``xentree_default`` at it (user login), and runs ``--triggers``
instances of :class:`~xentree_provider.triggers.condition.XentreeConditionTrigger` with the transcript
sensor's condition (``transcripts_in_window``) over a window that never gets a transcript, so every
trigger keeps polling every ``--interval`` seconds for ``--seconds``. Their ``run()`` coroutines are
driven directly in one asyncio loop, which is what the triggerer does.

Prints, for this (triggerer) process: CPU time as a share of one core, peak and final RSS, TCP
connections opened (counted at the event loop's ``create_connection``), and from the sandbox: logins,
token refreshes and requests. Then the cost of the same waiting done by ``poke``-mode sensors (one
worker slot held per sensor for the whole wait) and ``reschedule``-mode sensors (a slot per check,
estimated from the measured check latency plus a task start-up cost).

    python bench/triggerer_scale.py                  # 500 triggers, 5 s interval, 2 minutes
    python bench/triggerer_scale.py --seconds 20     # quick run
    python bench/triggerer_scale.py --unshared       # each trigger its own client (no pooling)

Goal: < 25 % of one core, one login per connection, pooled connections.
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
        self.poll_started: dict[int, float] = {}


async def run_triggers(args: argparse.Namespace, stats: Stats) -> dict[str, float]:
    """Run the triggers for ``args.seconds``; return CPU/wall/memory figures."""
    from xentree_provider.hooks.xentree_async import XentreeAsyncHook
    from xentree_provider.triggers.condition import XentreeConditionTrigger

    loop = asyncio.get_running_loop()
    original_connect = loop.create_connection

    async def counting_connect(*a: Any, **kw: Any) -> Any:
        stats.connects += 1
        return await original_connect(*a, **kw)

    loop.create_connection = counting_connect  # type: ignore[method-assign]

    class BenchTrigger(XentreeConditionTrigger):
        def _hook(self) -> Any:
            if args.unshared:
                return XentreeAsyncHook(self.conn_id, shared=False, **self.hook_overrides)
            return super()._hook()

    triggers = [
        BenchTrigger(
            conn_id="xentree_default",
            condition="transcripts_in_window",
            condition_kwargs={**WINDOW, "min_count": 1, "page_size": args.page_size},
            poke_interval=args.interval,
            deadline=None,
        )
        for _ in range(args.triggers)
    ]

    async def drive(trigger: XentreeConditionTrigger) -> None:
        async for event in trigger.run():
            stats.events.append(event.payload)

    peak = rss_mb()
    rss_before = peak
    cpu0, wall0 = time.process_time(), time.monotonic()
    tasks = []
    for trigger in triggers:
        tasks.append(asyncio.create_task(drive(trigger)))
        # The triggerer picks new triggers up in batches; spread the starts over one interval.
        await asyncio.sleep(args.interval / args.triggers)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code (1 when a goal is missed)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--triggers", type=int, default=500, help="concurrent triggers (default 500)")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to run (default 120)")
    parser.add_argument("--interval", type=float, default=5.0, help="poke interval in seconds (default 5)")
    parser.add_argument(
        "--page-size", type=int, default=100, help="the sensor's list page size (default 100)"
    )
    parser.add_argument("--unshared", action="store_true", help="one client per trigger (no sharing)")
    parser.add_argument(
        "--task-startup",
        type=float,
        default=1.5,
        help="seconds a worker slot is busy starting a task try (reschedule-mode estimate; default 1.5)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)

    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from xentree_provider.testing import SandboxServer

    with SandboxServer(anchor=ANCHOR) as sandbox:
        conn_env = sandbox.connection_env()
        os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = conn_env
        sandbox.reset_counters()
        stats = Stats()
        # The triggerer writes each trigger's log lines to files; so does this run (not to the terminal).
        log_path = os.path.join(tempfile.mkdtemp(prefix="xentree-triggerer-bench-"), "triggers.log")
        with redirected_output(log_path):
            figures = asyncio.run(run_triggers(args, stats))
        counters = sandbox.counters()
        check = mean_check_latency(sandbox.url, conn_env, args.page_size)

    cpu_share = figures["cpu_seconds"] / figures["wall_seconds"]
    checks = counters["requests"].get("GET /api/live/transcripts", 0)
    logins = int(counters["logins"])
    refreshes = int(counters["refreshes"])
    errors = [e for e in stats.events if e.get("status") != "success"]
    reschedule_slots = args.triggers * (check + args.task_startup) / args.interval
    result = {
        "triggers": args.triggers,
        "interval_s": args.interval,
        "seconds": round(figures["wall_seconds"], 1),
        "shared_client": not args.unshared,
        "cpu_share_of_one_core": round(cpu_share, 4),
        "rss_before_mb": round(figures["rss_before_mb"], 1),
        "rss_peak_mb": round(figures["rss_peak_mb"], 1),
        "rss_per_trigger_kb": round(
            1024 * (figures["rss_peak_mb"] - figures["rss_before_mb"]) / args.triggers, 1
        ),
        "tcp_connections_opened": stats.connects,
        "sockets_open_at_end": int(figures["sockets_at_end"]),
        "logins": logins,
        "refreshes": refreshes,
        "checks": checks,
        "checks_per_second": round(checks / figures["wall_seconds"], 1),
        "requests_total": counters["requests_total"],
        "trigger_events_before_cancel": len(stats.events),
        "trigger_errors": len(errors),
        "check_latency_ms": round(1000 * check, 1),
        "poke_mode_worker_slots": args.triggers,
        "reschedule_mode_worker_slots_estimate": round(reschedule_slots, 1),
        "deferrable_worker_slots": 0,
    }
    print(
        f"Deferral at scale: {args.triggers} transcript-sensor triggers in one event loop, "
        f"checking every {args.interval:g} s for {figures['wall_seconds']:.0f} s "
        f"({'one shared client per connection' if not args.unshared else 'one client per trigger'})"
    )
    print(f"  CPU:          {100 * cpu_share:.1f} % of one core  (goal < 25 %)")
    print(
        f"  memory:       {result['rss_peak_mb']} MiB peak RSS, {result['rss_before_mb']} MiB before "
        f"(~{result['rss_per_trigger_kb']} KiB per trigger)"
    )
    sockets = result["sockets_open_at_end"]
    print(f"  connections:  {stats.connects} TCP connections opened, {sockets} sockets open at the end")
    print(f"  logins:       {logins} login(s), {refreshes} refresh(es) for one connection id  (goal 1)")
    print(f"  trigger logs: {log_path}")
    print(
        f"  checks:       {checks} list reads ({result['checks_per_second']}/s), "
        f"{len(errors)} trigger error(s)"
    )
    print("  the same waiting without deferral:")
    print(f"    poke mode:        {args.triggers} worker slots held for the whole wait")
    print(
        f"    reschedule mode:  ~{reschedule_slots:.0f} worker slots busy on average ({1000 * check:.0f} ms "
        f"per check + {args.task_startup:g} s task start-up, every {args.interval:g} s)"
    )
    print("    deferrable:       0 worker slots; one triggerer process at the CPU share above")
    if args.json:
        print(json.dumps(result, indent=1))
    ok = cpu_share < 0.25 and not errors and (args.unshared or logins == 1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
