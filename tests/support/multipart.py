"""multipart/form-data bodies built by hand, for raw HTTP clients and odd shapes."""

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


def parts_body(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """(body, content type) with these (name, filename or None, content) parts."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"
