"""A multipart/form-data body with one `file` part, built by hand for raw HTTP clients."""

from __future__ import annotations

BOUNDARY = "flaskou-test-boundary"


def file_body(content: bytes, filename: str = "file.bin") -> tuple[bytes, str]:
    """(body, content type) for an upload of `content` as `filename`."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\n\r\n'
    ).encode()
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode(), (
        f"multipart/form-data; boundary={BOUNDARY}"
    )
