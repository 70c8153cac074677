"""Run every benchmark: `make bench` (or `python -m benchmarks [name ...]`)."""

from __future__ import annotations

import sys

from benchmarks import auth_path, token_check, upload

BENCHMARKS = {
    "auth_path": auth_path.main,
    "token_check": token_check.main,
    "upload": upload.main,
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
