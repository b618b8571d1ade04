"""stale_temporaries: exact-name matching, age threshold, stores without a modification time."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from airflow.sdk import ObjectStoragePath

from xentree_provider._task.outputs import TEMP_PREFIX, _modified_at, stale_temporaries

HEX = "0123456789abcdef" * 2


def _touch(directory: Path, name: str, age: float) -> Path:
    path = directory / name
    path.write_text("partial")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_only_old_temporaries_of_exactly_this_name(tmp_path: Path) -> None:
    _touch(tmp_path, f"{TEMP_PREFIX}{HEX}-west.jsonl", 7200)
    _touch(tmp_path, f"{TEMP_PREFIX}{HEX}-eu-west.jsonl", 7200)  # another destination
    _touch(tmp_path, f"{TEMP_PREFIX}{'f' * 32}-west.jsonl", 60)  # young: maybe a running try
    _touch(tmp_path, f"{TEMP_PREFIX}not-hex-west.jsonl", 7200)  # not written by atomic_write
    _touch(tmp_path, f"{TEMP_PREFIX}{HEX}-west.jsonl.gz", 7200)
    directory = ObjectStoragePath(f"file://{tmp_path}")
    found = stale_temporaries(directory, "west.jsonl")
    assert [p.name for p in found] == [f"{TEMP_PREFIX}{HEX}-west.jsonl"]
    assert len(stale_temporaries(directory, "west.jsonl", min_age=0)) == 2
    assert stale_temporaries(directory / "missing", "west.jsonl") == []


def test_modification_time_formats() -> None:
    """mtime (local), LastModified (S3), updated (GCS); unknown means None."""
    assert _modified_at({"mtime": 12.5}) == 12.5
    assert _modified_at({"LastModified": datetime(1970, 1, 1, 0, 1)}) == 60.0
    assert _modified_at({"updated": "1970-01-01T00:00:10Z"}) == 10.0
    assert _modified_at({"created": 5.0}) is None  # no modification time: never taken for stale
    assert _modified_at({"updated": "garbage"}) is None
