"""
``python -m bench``: see `bench.runner` for the workloads and options.
"""

from __future__ import annotations

from .runner import main


raise SystemExit(main())
