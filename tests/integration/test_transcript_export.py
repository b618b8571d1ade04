"""XentreeTranscriptExportOperator over real HTTP to the sandbox: windows, variants, faults, kills."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from xentree_provider._task.outputs import TEMP_PREFIX
from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.timestamps import parse_timestamp
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.operators.live import (
    CSV_COLUMNS,
    XentreeEmptyWindowError,
    XentreeTranscriptExportOperator,
)
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.integration

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAY_START = ANCHOR - timedelta(days=2)  # a full day of data, with sessions at both midnights
DAY_END = ANCHOR - timedelta(days=1)
CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"


def _context(start: datetime | None = DAY_START, end: datetime | None = DAY_END) -> dict[str, Any]:
    return {"data_interval_start": start, "data_interval_end": end}


@pytest.fixture
def world(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch):
    """``world(**config)``: reset the sandbox to the fixed anchor plus ``config``; conn env updated."""

    def reset(**config: Any) -> SandboxServer:
        sandbox.reset(anchor=ANCHOR.date().isoformat(), **config)
        monkeypatch.setenv(CONN_ENV, sandbox.connection_env())
        return sandbox

    reset()
    return reset


def export(tmp_path: Path, name: str, context: dict[str, Any] | None = None, **kwargs: Any):
    path = tmp_path / name
    task_id = "export_" + re.sub(r"\W", "_", name)
    op = XentreeTranscriptExportOperator(task_id=task_id, output_path=str(path), **kwargs)
    result = op.execute(_context() if context is None else context)
    return result, path


def expected_ids(start: datetime, end: datetime) -> list[str]:
    """The window's ids, computed independently from the full list (sorted by start, then id)."""
    hook = XentreeHook()
    rows = [
        (parse_timestamp(t["session_started_at"]), t["id"])
        for t in hook.iter_transcripts(page_size=200)
        if start <= parse_timestamp(t["session_started_at"]) < end
    ]
    hook.close()
    return [tid for _, tid in sorted(rows)]


def jsonl(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def test_window_edges_order_and_result(world, tmp_path):
    result, path = export(tmp_path, "day.jsonl")
    records = jsonl(path)
    ids = [r["id"] for r in records]
    assert ids == expected_ids(DAY_START, DAY_END)
    assert len(ids) > 50
    # A session exactly at start is in, one exactly at end is out, one a second before end is in.
    assert records[0]["session_started_at"] == "2026-02-27T00:00:00Z"
    assert records[-1]["session_started_at"] == "2026-02-27T23:59:59Z"
    assert all(r["session_started_at"] != "2026-02-28T00:00:00Z" for r in records)
    keys = [(r["session_started_at"], r["id"]) for r in records]
    assert keys == sorted(keys)
    assert all(r["turns"] and len(r["turns"]) == r["turn_count"] for r in records)
    assert result == {
        "path": f"file://{path}",
        "count": len(records),
        "turns": sum(len(r["turns"]) for r in records),
        "bytes": path.stat().st_size,
        "format": "jsonl",
        "compression": None,
        "window": {"start": "2026-02-27T00:00:00Z", "end": "2026-02-28T00:00:00Z"},
        "missing": 0,
        "asset": f"file://{path}",
        "redactions": {},
    }
    assert json.loads(json.dumps(result)) == result
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_explicit_window_overrides_the_interval_and_stops_paging_early(world, tmp_path):
    sandbox = world()
    sandbox.reset_counters()
    start, end = "2026-02-28T12:00:00Z", "2026-02-28T18:00:00+00:00"
    _, path = export(tmp_path, "six_hours.jsonl", context=_context(None, None), start=start, end=end)
    counters = sandbox.counters()["requests"]
    ids = [r["id"] for r in jsonl(path)]
    assert ids == expected_ids(parse_timestamp(start), parse_timestamp(end))
    # only the first list page(s) were read: the newest-first list is older than the window after that
    assert counters["GET /api/live/transcripts"] == 1
    assert counters["GET /api/live/transcripts/{transcript_id}"] == len(ids)


def test_rerun_is_byte_identical_whatever_the_concurrency(world, tmp_path):
    _, first = export(tmp_path, "a.jsonl")
    _, second = export(tmp_path, "b.jsonl", max_workers=1, page_size=7)
    _, third = export(tmp_path, "c.jsonl", max_workers=32)
    assert first.read_bytes() == second.read_bytes() == third.read_bytes()
    _, again = export(tmp_path, "a.jsonl")  # same path again: replaced by the same bytes
    assert again.read_bytes() == second.read_bytes()


def test_gzip_and_csv_are_deterministic(world, tmp_path):
    _, plain = export(tmp_path, "p.jsonl")
    _, gz1 = export(tmp_path, "g1.jsonl.gz", compression="gzip")
    _, gz2 = export(tmp_path, "g2.jsonl.gz", compression="gzip", max_workers=3)
    assert gz1.read_bytes() == gz2.read_bytes()
    assert gzip.decompress(gz1.read_bytes()) == plain.read_bytes()

    result, c1 = export(tmp_path, "t1.csv", export_format="csv")
    _, c2 = export(tmp_path, "t2.csv", export_format="csv", max_workers=2)
    assert c1.read_bytes() == c2.read_bytes()
    rows = list(csv.reader(io.StringIO(c1.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) - 1 == result["turns"]
    records = jsonl(plain)
    assert [r[0] for r in rows[1:] if r[6] == "0"] == [r["id"] for r in records]


# The default variant (bare arrays, "Z" timestamps) is the reference; every other list shape and the
# "+00:00" timestamp style give the same bytes.
@pytest.mark.parametrize(
    "variant",
    [
        {"list_shape": "envelope", "envelope_key": "items"},
        {"list_shape": "envelope", "envelope_key": "data"},
        {"list_shape": "envelope", "envelope_key": "results"},
        {"list_shape": "page"},
        {"timestamp_style": "offset"},
        {"timestamp_style": "offset", "list_shape": "envelope", "envelope_key": "data"},
    ],
    ids=lambda v: "-".join(str(x) for x in v.values()),
)
def test_every_list_variant_gives_the_same_bytes(world, tmp_path, variant):
    _, reference = export(tmp_path, "reference.jsonl")
    world(**variant)
    _, path = export(tmp_path, "variant.jsonl", page_size=50)
    assert path.read_bytes() == reference.read_bytes()


def test_fractional_timestamps_are_kept_canonical(world, tmp_path):
    _, reference = export(tmp_path, "reference.jsonl")
    world(timestamp_style="fractional")
    _, path = export(tmp_path, "fractional.jsonl")
    records = jsonl(path)
    keys = [(r["session_started_at"], r["id"]) for r in records]
    assert keys == sorted(keys)
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
    assert all(stamp.match(r["session_started_at"]) for r in records)
    assert all(stamp.match(t["timestamp"]) for r in records for t in r["turns"])
    # the same data: the "Z" variant is the fractional one truncated to seconds
    truncated = sorted(re.sub(r"\.\d{6}Z", "Z", line) for line in path.read_text().splitlines())
    assert truncated == sorted(reference.read_text().splitlines())


def test_empty_window_writes_an_empty_file_or_fails_when_asked(world, tmp_path):
    old = _context(datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2020, 1, 2, tzinfo=timezone.utc))
    result, path = export(tmp_path, "empty.jsonl", context=old)
    assert path.read_bytes() == b""
    assert result["count"] == 0 and result["bytes"] == 0
    result, path = export(tmp_path, "empty.csv", context=old, export_format="csv")
    assert path.read_text() == ",".join(CSV_COLUMNS) + "\n"
    future = _context(datetime(2030, 1, 1, tzinfo=timezone.utc), datetime(2030, 1, 2, tzinfo=timezone.utc))
    result, path = export(tmp_path, "future.jsonl.gz", context=future, compression="gzip")
    assert gzip.decompress(path.read_bytes()) == b""
    with pytest.raises(XentreeEmptyWindowError, match="no transcripts"):
        export(tmp_path, "strict.jsonl", context=old, fail_on_empty=True)
    assert not (tmp_path / "strict.jsonl").exists()


def test_fail_on_empty_goes_by_what_is_written_when_every_transcript_is_gone(world, tmp_path):
    sandbox = world()
    sandbox.set_faults(error_rate=1.0, error_codes=[404], fault_routes=["/api/live/transcripts/"])
    result, path = export(tmp_path, "gone.jsonl")  # every transcript listed, none readable: all missing
    assert result["count"] == 0 and result["missing"] > 0 and path.read_bytes() == b""
    previous = tmp_path / "strict.jsonl"
    previous.write_text("earlier\n")
    with pytest.raises(XentreeEmptyWindowError, match="no transcripts"):
        export(tmp_path, "strict.jsonl", fail_on_empty=True)
    assert previous.read_text() == "earlier\n"


@pytest.mark.parametrize(
    ("context", "kwargs", "message"),
    [
        ({}, {}, "no data interval"),
        (_context(None, None), {"start": "2026-02-27"}, "no data interval"),
        (_context(DAY_START, DAY_START), {}, "CronDataIntervalTimetable"),
        (_context(), {"start": "2026-02-28", "end": "2026-02-27"}, "not before"),
        (_context(), {"start": "2026-02-28", "end": "2026-02-28"}, "not before"),
        (_context(), {"start": "last tuesday"}, "not an ISO date"),
    ],
)
def test_bad_windows_fail_before_any_request(world, tmp_path, context, kwargs, message):
    sandbox = world()
    sandbox.reset_counters()
    with pytest.raises(XentreeConfigError, match=message):
        export(tmp_path, "bad.jsonl", context=context, **kwargs)
    assert sandbox.counters()["requests_total"] == 0
    assert not (tmp_path / "bad.jsonl").exists()


def test_faults_do_not_change_a_byte(world, tmp_path):
    _, reference = export(tmp_path, "reference.jsonl.gz", compression="gzip")
    sandbox = world(token_lifetime=2, rotate_refresh=True)
    # More tries than the default 6 (a connection setting), so a run of bad luck cannot fail the test.
    os.environ[CONN_ENV] = sandbox.connection_env(max_retries=10)
    sandbox.set_faults(error_rate=0.10, reset_rate=0.05, rate_limit_rps=40, rate_limit_burst=10)
    started = time.monotonic()
    _, path = export(tmp_path, "faulty.jsonl.gz", compression="gzip")
    elapsed = time.monotonic() - started
    assert path.read_bytes() == reference.read_bytes()
    counters = sandbox.counters()
    assert counters["faults"].get("error", 0) > 0
    assert counters["faults"].get("reset", 0) > 0
    assert counters["faults"].get("rate_limit", 0) > 0
    assert counters["responses"].get("429", 0) > 0
    print(f"faulty export took {elapsed:.1f} s; counters {counters}")
    assert elapsed > 2  # the rate limit alone makes it last longer than a token
    assert counters["refreshes"] >= 1  # so tokens were refreshed (and rotated) on the way


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from xentree_provider.operators.live import XentreeTranscriptExportOperator
    op = XentreeTranscriptExportOperator(task_id="killed", output_path=sys.argv[1], max_workers=1)
    op.execute({"data_interval_start": datetime(2026, 2, 27, tzinfo=timezone.utc),
                "data_interval_end": datetime(2026, 2, 28, tzinfo=timezone.utc)})
    print("finished")
    """
)


def test_a_killed_try_leaves_no_file_and_a_rerun_is_identical(world, tmp_path):
    _, reference = export(tmp_path, "reference.jsonl")
    target = tmp_path / "out" / "killed.jsonl"
    sandbox = world()
    sandbox.set_faults(latency_ms=40)  # slow enough to kill it mid-write
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(target)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        temporaries: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            if target.parent.exists():
                temporaries = [
                    p for p in target.parent.iterdir() if p.name.startswith(TEMP_PREFIX) and p.stat().st_size
                ]
                if temporaries:
                    break
            time.sleep(0.05)
        assert temporaries, f"the export never started writing: {proc.communicate()[1][-2000:]!r}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not target.exists()
    sandbox.clear_faults()
    an_hour_ago = time.time() - 3601
    for temporary in temporaries:  # the killed try's temporary, now older than stale_temp_age
        os.utime(temporary, (an_hour_ago, an_hour_ago))
    export(tmp_path, "out/killed.jsonl")
    assert target.read_bytes() == reference.read_bytes()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_cleanup_keeps_other_names_and_young_temporaries(world, tmp_path):
    """Only old temporaries of exactly this destination go; a concurrent try's live one stays."""
    long_ago = time.time() - 7200

    def temporary(name: str, *, old: bool) -> Path:
        path = tmp_path / f"{TEMP_PREFIX}{os.urandom(16).hex()}-{name}"
        path.write_text("partial")
        if old:
            os.utime(path, (long_ago, long_ago))
        return path

    stale = temporary("west.jsonl", old=True)
    live = temporary("west.jsonl", old=False)  # another try of this task, still writing
    other_task = temporary("eu-west.jsonl", old=True)  # ends with "-west.jsonl" but is not ours
    export(tmp_path, "west.jsonl")
    assert not stale.exists()
    assert live.exists()
    assert other_task.exists()
    export(tmp_path, "west.jsonl", stale_temp_age=0)
    assert not live.exists()
    assert other_task.exists()


def test_transcript_saved_later_changes_only_its_own_line(world, tmp_path):
    _, before = export(tmp_path, "before.jsonl")
    hook = XentreeHook()
    saved = hook.save_transcript(
        "2026-02-27T12:00:00.250+00:00",
        "2026-02-27T12:05:00Z",
        [{"role": "user", "text": "late upload", "timestamp": "2026-02-27T12:00:01Z"}],
    )
    hook.close()
    _, after = export(tmp_path, "after.jsonl")
    old_lines = before.read_text().splitlines()
    new_lines = after.read_text().splitlines()
    assert len(new_lines) == len(old_lines) + 1
    added = [json.loads(line) for line in new_lines if line not in old_lines]
    assert [r["id"] for r in added] == [saved["id"]]
    assert added[0]["session_started_at"] == "2026-02-27T12:00:00Z"  # the sandbox renders whole seconds
