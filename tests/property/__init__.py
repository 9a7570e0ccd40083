"""Property-based tests (hypothesis) of every parser of outside input."""

from __future__ import annotations

import os

# `HYPOTHESIS_PROFILE=hunt` (tests/conftest.py) searches twenty times as long, with fresh seeds.
_SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "hunt" else 1


def examples(n: int) -> int:
    """The number of examples a property runs: ``n``, more when hunting for bugs."""
    return n * _SCALE
