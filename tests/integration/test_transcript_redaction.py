"""Redaction and field selection of transcript exports, against the sandbox: every format read back
(JSON lines, gzip, CSV, Parquet with pyarrow and DuckDB), no address or number left, counts that match
the tokens in the file, keyed hashes that join across formats, byte-identical re-runs, schemas without
the dropped fields, and key errors before any request."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from xentree_provider._task.hooked import XentreeTaskConfigError
from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.operators.live import XentreeTranscriptExportOperator
from xentree_provider.tabular.parquet import arrow_schema
from xentree_provider.testing import SandboxServer
from xentree_provider.transcripts.schema import TRANSCRIPT_SCHEMA

pytestmark = pytest.mark.integration

UTC = timezone.utc
ANCHOR = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = {"data_interval_start": ANCHOR - timedelta(days=2), "data_interval_end": ANCHOR - timedelta(days=1)}
KEY = "redaction-key-0f3c9a7e5b1d2468"
KEEP = "opened 2026-02-27 at 10:00:01, took 00:05:00, ref 123e4567-e89b-12d3-a456-426614174000"
PII_TURNS = [
    [
        {"role": "user", "text": "I'm Ada (ada.lovelace@example.com), +44 20 7946 0958 or 020 7946 0959."},
        {"role": "ai", "text": f"Ticket ACME-1234 {KEEP}."},
        {"role": "user", "text": "Also BOB@Example.ORG,\n555-123-4567 555-987-6543"},
    ],
    [{"role": "user", "text": "ada.lovelace@example.com again, +1 (555) 123-4567"}],
]
EXPECTED = {"email": 3, "phone": 5, "pattern_1": 1}
# what must not survive: any address, every number and ticket written above (or its digits)
LEAKS = re.compile(r"[\w.+-]+@[\w-]+\.\w+|7946|555|ACME-1234|1234(?!-e89b)")
REDACT = ["email", "phone", r"ACME-\d+"]


@pytest.fixture
def world(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The sandbox at a fixed anchor, plus two transcripts full of addresses and numbers."""
    import requests

    sandbox.reset(anchor=ANCHOR.date().isoformat())
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env())
    monkeypatch.setenv("AIRFLOW_CONN_REDACTION_KEY", json.dumps({"conn_type": "generic", "password": KEY}))
    session = requests.Session()
    session.headers["X-API-Key"] = sandbox.api_key("full")
    for index, turns in enumerate(PII_TURNS):
        stamp = f"2026-02-27T1{index}:00:00Z"
        body = {
            "session_started_at": stamp,
            "session_ended_at": "2026-02-27T12:00:00Z",
            "transcripts": [{**turn, "timestamp": stamp} for turn in turns],
        }
        response = session.post(f"{sandbox.url}/api/live/transcripts", json=body, timeout=30)
        assert response.status_code == 201, response.text
    return sandbox


def _export(tmp_path: Path, name: str, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    operator = XentreeTranscriptExportOperator(task_id=name, output_path=str(tmp_path / name), **kwargs)
    events = OutletEventAccessors()
    result = operator.execute({**WINDOW, "outlet_events": events})  # type: ignore[arg-type]
    assert operator.asset is not None
    return result, dict(events[operator.asset].extra)


def _texts(path: Path, export_format: str) -> list[str]:
    """Every turn text of an export file, read back with the format's own reader."""
    if export_format == "parquet":
        table = pq.read_table(path)
        texts = [turn["text"] or "" for row in table.to_pylist() for turn in row["turns"]]
        from_duckdb = duckdb.connect().execute(
            f"SELECT t.text FROM read_parquet('{path}'), unnest(turns) AS u(t) ORDER BY id"
        )
        assert sorted(text or "" for (text,) in from_duckdb.fetchall()) == sorted(texts)
        return texts
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
    if export_format == "csv":
        return [row["text"] for row in csv.DictReader(io.StringIO(text))]
    return [turn["text"] or "" for line in text.splitlines() for turn in json.loads(line)["turns"]]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("t.jsonl", {}),
        ("t.jsonl.gz", {"compression": "gzip"}),
        ("t.csv", {"export_format": "csv"}),
        ("t.parquet", {"export_format": "parquet"}),
    ],
)
def test_mask_leaves_no_address_or_number_in_any_format(
    world: SandboxServer, tmp_path: Path, name: str, kwargs: dict[str, Any]
) -> None:
    result, event = _export(tmp_path, name, redact=REDACT, **kwargs)
    assert result["redactions"] == EXPECTED and event["redactions"] == EXPECTED
    texts = _texts(tmp_path / name, kwargs.get("export_format", "jsonl"))
    joined = "\n".join(texts)
    assert not LEAKS.findall(joined)
    assert joined.count("[email]") == EXPECTED["email"]
    assert joined.count("[phone]") == EXPECTED["phone"]
    assert joined.count("[redacted]") == EXPECTED["pattern_1"]
    assert f"Ticket [redacted] {KEEP}." in texts  # dates, times, durations and ids are untouched
    assert "I'm Ada ([email]), [phone] or [phone]." in texts
    assert "Also [email],\n[phone] [phone]" in texts


def test_hash_joins_across_formats_reruns_byte_identically_and_never_writes_the_key(
    world: SandboxServer, tmp_path: Path
) -> None:
    hashed = {"redact": REDACT, "redaction": "hash", "redaction_key_conn_id": "redaction_key"}
    first, _ = _export(tmp_path, "a.jsonl", **hashed)
    _export(tmp_path, "b.jsonl", **hashed, max_workers=1, page_size=7)
    _export(tmp_path, "c.csv", **hashed, export_format="csv")
    _export(tmp_path, "d.parquet", **hashed, export_format="parquet")
    _export(tmp_path, "e.parquet", **hashed, export_format="parquet", max_workers=2)
    assert first["redactions"] == EXPECTED
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "d.parquet").read_bytes() == (tmp_path / "e.parquet").read_bytes()
    tokens = {
        fmt: re.findall(r"\[(?:email|phone|redacted):[0-9a-f]{16}\]", "\n".join(_texts(tmp_path / f, fmt)))
        for f, fmt in (("a.jsonl", "jsonl"), ("c.csv", "csv"), ("d.parquet", "parquet"))
    }
    assert len(tokens["jsonl"]) == sum(EXPECTED.values())
    assert sorted(tokens["jsonl"]) == sorted(tokens["csv"]) == sorted(tokens["parquet"])
    ada = [t for t in tokens["jsonl"] if t.startswith("[email")]
    assert len(set(ada)) == 2  # Ada twice (one token), Bob once
    for path in tmp_path.iterdir():
        content = path.read_bytes()
        assert KEY.encode() not in content and not LEAKS.findall(content.decode("utf-8", "replace"))


def test_fields_drop_columns_consistently_in_every_format(world: SandboxServer, tmp_path: Path) -> None:
    kept = ["session_started_at", "turns"]
    full, _ = _export(tmp_path, "full.parquet", export_format="parquet")
    parquet, _ = _export(tmp_path, "f.parquet", export_format="parquet", fields=kept, redact=["email"])
    table = pq.read_table(tmp_path / "f.parquet")
    expected_columns = [c for c in TRANSCRIPT_SCHEMA if c.name in ("id", *kept)]
    assert table.schema.equals(arrow_schema(expected_columns))
    assert table.column_names == ["id", "session_started_at", "turns"]
    assert table.num_rows == parquet["count"] == full["count"]
    full_ids = pq.read_table(tmp_path / "full.parquet").column("id").to_pylist()
    assert table.column("id").to_pylist() == full_ids

    _export(tmp_path, "f.jsonl", fields=kept)
    records = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert {tuple(r) for r in records} == {("id", "session_started_at", "turns")}

    _export(tmp_path, "f.csv", export_format="csv", fields=["created_at"])
    rows = list(csv.reader(io.StringIO((tmp_path / "f.csv").read_text())))
    assert rows[0] == ["transcript_id", "created_at"]
    assert len(rows) - 1 == full["count"]  # without turns: one row per transcript
    _export(tmp_path, "g.csv", export_format="csv", fields=["turns"])
    header = next(csv.reader(io.StringIO((tmp_path / "g.csv").read_text())))
    assert header == ["transcript_id", "turn_index", "role", "text", "timestamp"]


def test_bad_arguments_fail_at_construction_naming_what_to_set(tmp_path: Path) -> None:
    def build(**kwargs: Any) -> XentreeTranscriptExportOperator:
        return XentreeTranscriptExportOperator(task_id="x", output_path=str(tmp_path / "x.jsonl"), **kwargs)

    with pytest.raises(XentreeConfigError, match=r"redaction_key_conn_id .*redaction_key_variable"):
        build(redact=["email"], redaction="hash")
    with pytest.raises(XentreeConfigError, match=r"unknown field.*'text'.*valid: id, session_id"):
        build(fields=["id", "text"])
    with pytest.raises(XentreeConfigError, match=r"pattern_1 '\(unclosed' is not a valid regex"):
        build(redact=["email", "(unclosed"])
    with pytest.raises(XentreeConfigError, match="not both"):
        build(redact=["email"], redaction="hash", redaction_key_conn_id="a", redaction_key_variable="b")
    with pytest.raises(XentreeConfigError, match='redaction must be "mask" or "hash"'):
        build(redact=["email"], redaction="sha1")


@pytest.mark.parametrize(
    ("key_args", "message"),
    [
        ({"redaction_key_conn_id": "missing_key_conn"}, "redaction_key_conn_id='missing_key_conn'"),
        ({"redaction_key_variable": "missing_key_variable"}, "no such Airflow Variable"),
        ({"redaction_key_conn_id": "short_key"}, "too short"),
    ],
)
def test_key_errors_fail_the_task_before_any_request(
    world: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key_args: dict[str, str],
    message: str,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SHORT_KEY", json.dumps({"conn_type": "generic", "password": "tiny"}))
    world.reset_counters()
    with pytest.raises(XentreeTaskConfigError, match=message) as error:
        _export(tmp_path, "k.jsonl", redact=["email"], redaction="hash", **key_args)
    assert "tiny" not in str(error.value) + repr(error.value)
    assert sum(world.counters()["requests"].values()) == 0
    assert not (tmp_path / "k.jsonl").exists()


def test_key_from_a_variable_gives_the_same_hashes_as_from_a_connection(
    world: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_TRANSCRIPT_REDACTION_KEY", KEY)
    _export(
        tmp_path,
        "v.jsonl",
        redact=REDACT,
        redaction="hash",
        redaction_key_variable="transcript_redaction_key",
    )
    _export(tmp_path, "c.jsonl", redact=REDACT, redaction="hash", redaction_key_conn_id="redaction_key")
    assert (tmp_path / "v.jsonl").read_bytes() == (tmp_path / "c.jsonl").read_bytes()


def test_lineage_schema_lists_the_columns_written(world: SandboxServer, tmp_path: Path) -> None:
    def columns(**kwargs: Any) -> list[str]:
        operator = XentreeTranscriptExportOperator(task_id="l", output_path=str(tmp_path / "l"), **kwargs)
        facets = operator.get_openlineage_facets_on_start()
        (output,) = facets.outputs
        return [field.name for field in output.facets["schema"].fields]

    assert columns(export_format="parquet") == [c.name for c in TRANSCRIPT_SCHEMA]
    assert columns(export_format="parquet", fields=["turns"]) == ["id", "turns"]
    assert columns(export_format="csv", fields=["created_at"]) == ["transcript_id", "created_at"]
    assert columns(fields=["session_id", "turn_count"]) == ["id", "session_id", "turn_count"]
