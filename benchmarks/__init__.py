"""Benchmarks: each module has ``main()`` that prints figures and same-run ratios."""
