"""Client filenames: cleaned for display, and sent back per RFC 6266."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from urllib.parse import quote

MAX_FILENAME = 255
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w!#$&^.+-]{0,126}/[A-Za-z0-9][\w!#$&^.+-]{0,126}$")
DEFAULT_TYPE = "application/octet-stream"


def _display_char(ch: str) -> str:
    """Controls, format characters (bidi overrides among them), surrogates and
    unassigned code points go; every separator (line and paragraph separators,
    no-break and other spaces) becomes a plain space."""
    category = unicodedata.category(ch)
    if category[0] == "C":
        return ""
    if category[0] == "Z":
        return " "
    return ch


def clean_filename(raw: str) -> str:
    """The last path part, one line of printable text, at most 255 characters."""
    name = raw.replace("\\", "/").split("/")[-1]
    name = unicodedata.normalize("NFC", "".join(_display_char(ch) for ch in name))
    name = name.strip().strip(".").strip()
    if not name:
        return "unnamed"
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_FILENAME - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME]
    return name


def content_type_for(declared: str | None, filename: str) -> str:
    """The declared type when it is a plain valid one, else a guess from the name."""
    if declared:
        base = declared.split(";", 1)[0].strip().lower()
        if _CONTENT_TYPE.match(base) and base != DEFAULT_TYPE:
            return base
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or DEFAULT_TYPE


def content_disposition(filename: str) -> str:
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    fallback = re.sub(r'["\\]', "_", fallback)
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header
