"""Atomic writes to object storage (local paths, ``file://``, ``s3://``, ``gs://``, ...).

A file is written beside its destination under a hidden temporary name and moved into place only when
complete, so a failed or killed try never leaves a half-written file at the destination.
"""

from __future__ import annotations

import gzip
import io
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import IO, Any, cast

from airflow.sdk import ObjectStoragePath

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.timestamps import parse_timestamp

__all__ = [
    "atomic_write",
    "file_destination",
    "output_path",
    "remove_stale_temporaries",
    "stale_temporaries",
    "write_text_atomically",
]

TEMP_PREFIX = ".xentree-tmp-"
STALE_TEMP_AGE = 3600.0
"""Seconds after which a temporary left beside a destination is taken for a killed try's."""


def output_path(path: str | ObjectStoragePath, conn_id: str | None = None) -> ObjectStoragePath:
    """Turn a user-given path (plain local path or URL) into an ``ObjectStoragePath``."""
    if isinstance(path, ObjectStoragePath):
        return path if conn_id is None or path.conn_id else ObjectStoragePath(str(path), conn_id=conn_id)
    text = str(path).strip()
    if not text:
        raise ValueError("output path is empty: give a local path or a URL such as s3://bucket/key")
    if "://" not in text:
        if not text.startswith("/"):
            raise ValueError(
                f"output path {text!r} must be absolute (or a URL such as file:///..., s3://...)"
            )
        text = "file://" + text
    return ObjectStoragePath(text, conn_id=conn_id)


def file_destination(path: str | ObjectStoragePath, conn_id: str | None = None) -> ObjectStoragePath:
    """:func:`output_path` for a file: a clear error if the destination is an existing directory.

    Call it before the first request, so a wrong path costs nothing.
    """
    destination = output_path(path, conn_id)
    _refuse_directory(destination)
    return destination


def _refuse_directory(destination: ObjectStoragePath) -> None:
    if destination.is_dir():
        raise XentreeConfigError(
            f"output path {destination} is an existing directory: give a file path inside it, e.g. "
            f"{str(destination).rstrip('/')}/transcripts.jsonl (templated paths such as "
            "'.../dt={{ data_interval_start | ds }}/transcripts.jsonl' name one file per run)"
        )


@contextmanager
def atomic_write(
    destination: ObjectStoragePath, *, binary: bool = True, compress: bool = False
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``destination``; move it into place when the block succeeds.

    With ``compress`` the content is gzip-compressed (deterministically: no name or time in the header).
    In text mode the file is UTF-8 with ``\\n`` line ends. An existing directory at ``destination``
    is refused (``XentreeConfigError``): moving a file onto it would hide the file inside it.
    """
    _refuse_directory(destination)
    parent = destination.parent
    parent.mkdir(parents=True, exist_ok=True)
    temporary = parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}-{destination.name}"
    try:
        with cast(IO[bytes], temporary.open("wb")) as raw:  # type: ignore[no-untyped-call]
            stream = cast(
                IO[bytes], gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) if compress else raw
            )
            if binary:
                yield stream
            else:
                text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
                yield text
                text.flush()
                text.detach()
            if compress:
                stream.close()
        temporary.move(destination)
    except BaseException:
        if temporary.exists():
            temporary.unlink()
        raise


def write_text_atomically(destination: ObjectStoragePath, chunks: Iterable[str]) -> int:
    """Write ``chunks`` as UTF-8 to ``destination`` with :func:`atomic_write`; return the bytes written."""
    size = 0
    with atomic_write(destination) as stream:
        for chunk in chunks:
            data = chunk.encode("utf-8")
            stream.write(data)
            size += len(data)
    return size


def _modified_at(info: Mapping[str, Any]) -> float | None:
    """A file's modification time (epoch seconds) from an fsspec ``info`` mapping; None if unknown."""
    for key in ("mtime", "LastModified", "last_modified", "updated"):
        value = info.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            return aware.timestamp()
        if isinstance(value, str):
            try:
                return parse_timestamp(value).timestamp()
            except ValueError:
                continue
    return None


def stale_temporaries(
    directory: ObjectStoragePath, name: str, *, min_age: float = STALE_TEMP_AGE
) -> list[ObjectStoragePath]:
    """Temporaries of ``name`` in ``directory`` left by killed tries, ``min_age`` seconds old or more.

    Only names written by :func:`atomic_write` for exactly ``name`` match (so ``eu-west.jsonl``'s
    temporaries are never taken for ``west.jsonl``'s), and a younger temporary may belong to a try still
    running, so it is kept. A store that reports no modification time keeps its temporaries.
    """
    if not directory.exists():
        return []
    pattern = re.compile(rf"{re.escape(TEMP_PREFIX)}[0-9a-f]{{32}}-{re.escape(name)}")
    now = time.time()
    stale: list[ObjectStoragePath] = []
    for path in directory.iterdir():
        if not pattern.fullmatch(path.name):
            continue
        modified = _modified_at(path.stat())
        if modified is not None and now - modified >= min_age:
            stale.append(path)
    return stale


def remove_stale_temporaries(destination: ObjectStoragePath, *, min_age: float, log: Any) -> None:
    """Delete the temporaries of ``destination`` left by killed tries (best effort, never raises)."""
    try:
        for stale in stale_temporaries(destination.parent, destination.name, min_age=min_age):
            log.warning("Removing %s, left by an earlier killed try", stale)
            stale.unlink()
    except Exception as error:  # cleanup must never fail a finished export
        log.warning("Could not clean up stale temporaries beside %s: %s", destination, error)
