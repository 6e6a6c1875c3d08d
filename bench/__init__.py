"""
twupload's benchmark suite: twupload side by side with baseline clients, in one run.

Run it with ``python -m bench`` (or ``nox -s bench``); ``python -m bench --help``
lists the workloads and their knobs, ``--quick`` finishes in under a minute.
Results and the machine they were measured on are in ``docs/benchmarks.md``.
"""
