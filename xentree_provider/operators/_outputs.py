"""Atomic writes to object storage (local paths, ``file://``, ``s3://``, ``gs://``, ...).

A file is written beside its destination under a hidden temporary name and moved into place only when
complete, so a failed or killed try never leaves a half-written file at the destination.
"""

from __future__ import annotations

import gzip
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

from airflow.sdk import ObjectStoragePath

__all__ = ["atomic_write", "output_path", "stale_temporaries"]

TEMP_PREFIX = ".xentree-tmp-"


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


@contextmanager
def atomic_write(
    destination: ObjectStoragePath, *, binary: bool = True, compress: bool = False
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``destination``; move it into place when the block succeeds.

    With ``compress`` the content is gzip-compressed (deterministically: no name or time in the header).
    In text mode the file is UTF-8 with ``\\n`` line ends.
    """
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


def stale_temporaries(directory: ObjectStoragePath) -> list[ObjectStoragePath]:
    """Temporary files left in ``directory`` by killed tries (safe to delete once no try runs)."""
    if not directory.exists():
        return []
    return [p for p in directory.iterdir() if p.name.startswith(TEMP_PREFIX)]
