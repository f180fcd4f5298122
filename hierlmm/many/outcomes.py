"""The outcomes of a batch: columns of ``data`` or a separate (n, m) table of responses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hierlmm.errors import DataError

PLACEHOLDER_SEED = 20_251_203


def resolve_outcomes(
    data: pd.DataFrame, outcomes: object
) -> tuple[tuple[str, ...], np.ndarray, pd.DataFrame]:
    """Names and values of the outcomes, and ``data`` without outcome columns.

    Parameters
    ----------
    data : pandas.DataFrame, shape (n, k)
    outcomes : list of str, pandas.DataFrame (n, m) or ndarray (n, m)
        Column names of ``data``, or responses sharing ``data``'s rows (array columns are
        named ``"o0000"``, ``"o0001"``, ...).

    Returns
    -------
    names : tuple of str, length m
    values : ndarray of float64, shape (n, m)
    rows : pandas.DataFrame, shape (n, k')
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if isinstance(outcomes, str):
        outcomes = [outcomes]
    if isinstance(outcomes, Sequence) and all(isinstance(c, str) for c in outcomes):
        missing = [c for c in outcomes if c not in data.columns]
        if missing:
            raise DataError(f"outcome column(s) {missing[:5]} are not in data; "
                            "pass column names of data or an (n, m) table")
        table = data[list(outcomes)]
        rows = data.drop(columns=list(outcomes))
    elif isinstance(outcomes, pd.DataFrame):
        table, rows = outcomes, data
    elif isinstance(outcomes, np.ndarray) and outcomes.ndim == 2:
        table = pd.DataFrame(outcomes, columns=[f"o{j:04d}" for j in range(outcomes.shape[1])])
        rows = data
    else:
        raise DataError("outcomes must be a list of column names, a DataFrame or a 2-D "
                        f"array of shape (n, m); got {type(outcomes).__name__}")
    return _checked(table, rows)


def _checked(table: pd.DataFrame, rows: pd.DataFrame) -> tuple:
    if table.shape[0] != rows.shape[0]:
        raise DataError(f"outcomes have {table.shape[0]} rows but data has {rows.shape[0]}; "
                        "each outcome needs one value per row of data")
    if table.shape[1] == 0:
        raise DataError("outcomes is empty: pass at least one outcome")
    names = tuple(str(c) for c in table.columns)
    if len(set(names)) != len(names):
        raise DataError("outcome names must be unique")
    bad = [n for n, dt in zip(names, table.dtypes, strict=True)
           if not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)]
    if bad:
        raise DataError(f"outcome(s) {bad[:5]} are not numeric")
    return names, table.to_numpy(dtype=np.float64), rows.reset_index(drop=True)


def with_placeholder(rows: pd.DataFrame, response: str) -> pd.DataFrame:
    """``rows`` with the formula's placeholder response filled with seeded noise.

    The placeholder only lets the design stage encode the rows; every outcome replaces it.
    """
    noise = np.random.default_rng(PLACEHOLDER_SEED).normal(size=rows.shape[0])
    return rows.assign(**{response: noise})


def read_outcomes(value: str, base_dir: Path | None = None) -> list[str] | pd.DataFrame:
    """``--outcomes`` of ``hierlmm fit-many``: a CSV/TSV/Parquet file or column names.

    Parameters
    ----------
    value : str
        A path to a table with one column per outcome and one row per data row
        (``.csv``, ``.tsv``, ``.parquet``), or comma-separated column names of the data.
    base_dir : Path, optional
        Folder relative paths are tried against (the model file's), after the working one.
    """
    path = Path(value).expanduser()
    candidates = [path] + ([base_dir / path] if base_dir is not None else [])
    for candidate in candidates:
        if candidate.is_file():
            suffix = candidate.suffix.lower()
            if suffix == ".parquet":
                return pd.read_parquet(candidate)
            if suffix in (".csv", ".tsv", ".txt"):
                return pd.read_csv(candidate, sep="\t" if suffix == ".tsv" else ",")
            raise DataError(f"--outcomes {value}: unknown table type {suffix!r}; "
                            "use .csv, .tsv or .parquet")
    columns = [c.strip() for c in value.split(",") if c.strip()]
    if not columns:
        raise DataError("--outcomes names no file and no columns")
    return columns
