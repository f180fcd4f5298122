"""``import hierlmm`` stays cheap; ``hierlmm.plots`` and ``hierlmm --version`` work."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hierlmm
from hierlmm.cli import main


def test_plots_is_an_attribute_loaded_on_first_use() -> None:
    code = (
        "import sys, hierlmm\n"
        "assert 'matplotlib' not in sys.modules and 'hierlmm.plots' not in sys.modules\n"
        "plots = hierlmm.plots\n"
        "assert plots is sys.modules['hierlmm.plots'] and callable(plots.plot_icc_curve)\n"
        "assert 'plots' in dir(hierlmm)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_still_raises() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hierlmm.nope  # noqa: B018


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert hierlmm.__version__ == "0.1.0"
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"hierlmm {hierlmm.__version__}\n"
