"""flaskou benchmarks: each compares two things in one run and reports the ratio."""
