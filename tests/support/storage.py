"""Looking inside a storage backend from tests: what bytes are really there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flaskou.files.storage import LocalStorage, S3Storage


def stored_names(storage: Any) -> list[str]:
    """Every object and unfinished upload the backend holds."""
    if isinstance(storage, LocalStorage):
        return sorted(
            str(p.relative_to(storage.root)) for p in Path(storage.root).rglob("*") if p.is_file()
        )
    assert isinstance(storage, S3Storage)
    client, bucket = storage.client, storage.bucket
    names = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    names += [
        "upload:" + u["Key"]
        for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ]
    return sorted(names)
