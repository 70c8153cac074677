"""Run every benchmark: `make bench` (or `python -m benchmarks [name ...]`)."""

from __future__ import annotations

import sys

from benchmarks import auth_path, login, mixed, pages, token_check, upload

# In this order, which is also the order of their sections in docs/benchmarks.md.
BENCHMARKS = {
    "auth_path": auth_path.main,
    "token_check": token_check.main,
    "login": login.main,
    "pages": pages.main,
    "upload": upload.main,
    "mixed": mixed.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
            return 2
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
