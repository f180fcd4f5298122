"""The installed dependencies satisfy pyproject.toml, and every core one has an upper bound.

The bounds are where the tested versions end: an upgrade past one must be deliberate
(upgrade, run the suite, move the bound). This test fails when the environment and
pyproject.toml disagree, e.g. after a manual upgrade without moving the bound.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
PROJECT = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
CORE = [Requirement(text) for text in PROJECT["dependencies"]]
DEV = [Requirement(text) for text in PROJECT["optional-dependencies"]["dev"]]
UPPER = ("<", "<=", "==", "~=")


@pytest.mark.parametrize("requirement", CORE, ids=str)
def test_core_dependency_is_bounded_and_satisfied(requirement: Requirement) -> None:
    assert any(spec.operator in UPPER for spec in requirement.specifier), (
        f"{requirement} has no upper bound; add one just above the tested version")
    installed = version(requirement.name)
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{requirement.name} {installed} is installed but pyproject.toml asks for "
        f"{requirement}: test the new version and move the bound, or reinstall")


@pytest.mark.parametrize("requirement", DEV, ids=str)
def test_installed_dev_dependency_is_satisfied(requirement: Requirement) -> None:
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        pytest.skip(f"{requirement.name} is not installed")
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{requirement.name} {installed} does not satisfy {requirement}")
