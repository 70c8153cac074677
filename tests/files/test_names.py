from __future__ import annotations

import pytest

from flaskou.files.names import clean_filename, content_disposition, content_type_for


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("C:\\Users\\ada\\notes.txt", "notes.txt"),
        ("a/b/../c.txt", "c.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("\u202eevil.txt", "evil.txt"),
        ("line\u2028break\u2029here.txt", "line break here.txt"),
        ("no\u00a0break\u3000space.txt", "no break space.txt"),
        ("zero\u200bwidth\u0085next\x7f.txt", "zerowidthnext.txt"),
        ("lone\ud800surrogate.txt", "lonesurrogate.txt"),
        ("\u2003spaced \u2003out.txt\u2028", "spaced  out.txt"),
        ("", "unnamed"),
        ("...", "unnamed"),
        ("x" * 400, "x" * 255),
    ],
)
def test_clean_filename(raw, clean):
    assert clean_filename(raw) == clean


def test_content_disposition_quotes_safely():
    assert content_disposition('a"b\\c.txt') == 'attachment; filename="a_b_c.txt"; ' + (
        "filename*=UTF-8''a%22b%5Cc.txt"
    )


@pytest.mark.parametrize(
    ("declared", "name", "expected"),
    [
        ("text/plain; charset=utf-8", "x.bin", "text/plain"),
        ("not a type", "x.png", "image/png"),
        ("text/html\r\nX-Evil: 1", "x.txt", "text/plain"),
        (None, "x", "application/octet-stream"),
    ],
)
def test_content_type_for(declared, name, expected):
    assert content_type_for(declared, name) == expected
