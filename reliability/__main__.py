"""Entry point of `python -m reliability`."""

from __future__ import annotations

from reliability.run import main

raise SystemExit(main())
