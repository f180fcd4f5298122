"""The residual structure's design: which series each row belongs to, its time, and the order.

For ``"ar1"`` and ``"car1"`` residuals (:class:`hierlmm.spec.ResidualSpec`) the residual
process runs within series (the levels of ``group``, by default the model's first grouping
factor) along the ``time`` column. Rows need not be sorted: :class:`ResidualDesign` keeps
every array in the user's row order and gives the permutation ``order`` that sorts the
rows by (series, time), which is what the engines need. Nothing here depends on the
response, and nothing is dense in the number of series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hierlmm.errors import DataError
from hierlmm.options import ResidualKind

_MAX_SHOWN = 5


@dataclass(frozen=True)
class ResidualDesign:
    """Encoded residual structure.

    For ``kind="iid"`` the residuals are independent and have no series: ``group`` and
    ``time_column`` are ``None``, ``series_levels`` is empty and the three arrays are
    ``None`` (build it with :meth:`iid`). For ``"ar1"`` and ``"car1"`` every field is set.

    Attributes
    ----------
    kind : {"iid", "ar1", "car1"}
    group : str or None
        The column or grouping factor within which each series runs (the spec's
        ``group``, or the model's first grouping factor when the spec gives none).
    time_column : str or None
        The spec's ``time`` column.
    series : ndarray of int64, shape (n,), or None
        Series of each row, in the user's row order, in ``[0, n_series)``. When ``group``
        is a grouping factor these are that factor's level codes.
    series_levels : tuple of str, length n_series
        Series labels in code order (sorted as the levels of a grouping factor).
    time : ndarray of float64, shape (n,), or None
        Value of the time column of each row, in the user's row order: the ordering
        column for ``"ar1"`` (integer-valued), real-valued times for ``"car1"``.
    order : ndarray of int64, shape (n,), or None
        Permutation sorting the rows by (series, time): ``series[order]`` is
        non-decreasing and ``time[order]`` strictly increases within each series. Series
        ``s`` is ``order[offsets[s]:offsets[s + 1]]``.
    """

    kind: ResidualKind
    group: str | None = None
    time_column: str | None = None
    series: np.ndarray | None = None
    series_levels: tuple[str, ...] = ()
    time: np.ndarray | None = None
    order: np.ndarray | None = None

    @classmethod
    def iid(cls) -> ResidualDesign:
        """The design of independent residuals (no series, no arrays)."""
        return cls(kind="iid")

    @property
    def is_iid(self) -> bool:
        """Whether the residuals are independent."""
        return self.kind == "iid"

    @property
    def n_series(self) -> int:
        """Number of series (0 for iid residuals)."""
        return len(self.series_levels)

    @property
    def offsets(self) -> np.ndarray:
        """Start of each series in sorted order, shape (n_series + 1,), int64.

        Rows ``order[offsets[s]:offsets[s + 1]]`` are series ``s`` in time order.
        """
        series = self._arrays()[0]
        counts = np.bincount(series, minlength=self.n_series)  # (n_series,)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @property
    def gaps(self) -> np.ndarray:
        """Time since the previous row of the same series, in sorted order, shape (n,).

        ``gaps[i]`` belongs to row ``order[i]``; it is NaN at the first row of each series
        and positive elsewhere (1 everywhere for an AR(1) series without gaps).
        """
        _, time, order = self._arrays()
        sorted_time = time[order]  # (n,)
        gaps = np.empty_like(sorted_time)
        gaps[1:] = np.diff(sorted_time)
        gaps[self.offsets[:-1]] = np.nan
        return gaps

    @property
    def lags(self) -> np.ndarray:
        """Correlation exponent of each row with its predecessor, in sorted order, (n,).

        ``phi ** lags[i]`` is the correlation of row ``order[i]`` with the previous row of
        its series: 1 for ``"ar1"`` (lag one is the next observation in time order),
        the time gap for ``"car1"``; 0 at the first row of each series.
        """
        gaps = self.gaps if self.kind == "car1" else np.ones(self.series.shape[0])
        gaps = np.array(gaps, dtype=np.float64)
        gaps[self.offsets[:-1]] = 0.0
        return gaps

    @property
    def previous(self) -> np.ndarray:
        """Row (user order) preceding each row in its series, shape (n,), int64.

        The first row of a series points at itself (its lag is 0, so it is unused).
        """
        order = self._arrays()[2]
        prev_sorted = np.empty_like(order)
        prev_sorted[1:] = order[:-1]
        starts = self.offsets[:-1]
        prev_sorted[starts] = order[starts]
        out = np.empty_like(order)
        out[order] = prev_sorted
        return out

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.series is None or self.time is None or self.order is None:
            raise ValueError("iid residuals have no series, times or order")
        return self.series, self.time, self.order


def series_design(
    *,
    kind: ResidualKind,
    group: str,
    time_column: str,
    series: np.ndarray,
    series_levels: tuple[str, ...],
    time: np.ndarray,
    gaps: str = "error",
) -> ResidualDesign:
    """Check the times of an ``"ar1"``/``"car1"`` residual and order the rows.

    Parameters
    ----------
    kind : {"ar1", "car1"}
    group : str
        Column or grouping factor within which each series runs, for messages.
    time_column : str
        The time column, for messages.
    series : ndarray of int64, shape (n,)
        Series code of each row, in ``[0, len(series_levels))``.
    series_levels : tuple of str
        Series labels in code order.
    time : ndarray, shape (n,)
        Time of each row (any real dtype; stored as float64).
    gaps : {"error", "order"}
        For ``"ar1"``: whether a missing integer time inside a series is an error.

    Returns
    -------
    ResidualDesign
        With ``order = lexsort((time, series))``.

    Raises
    ------
    DataError
        Naming the time column for non-finite times or non-integer ``"ar1"`` times, and
        the series for a time repeated within one series, or (``"ar1"`` with
        ``gaps="error"``) a missing integer time inside a series.
    """
    time = check_times(np.asarray(time, dtype=np.float64), column=time_column, kind=kind)
    series = np.asarray(series, dtype=np.int64)
    order = np.lexsort((time, series)).astype(np.int64)  # by series, then by time
    check_distinct_times(
        series[order], time[order], column=time_column, group=group, levels=series_levels
    )
    if kind == "ar1" and gaps == "error":
        check_no_gaps(
            series[order], time[order], column=time_column, group=group, levels=series_levels
        )
    return ResidualDesign(
        kind=kind,
        group=group,
        time_column=time_column,
        series=series,
        series_levels=series_levels,
        time=time,
        order=order,
    )


def check_times(time: np.ndarray, *, column: str, kind: str) -> np.ndarray:
    """Return ``time`` (n,) if finite, and integer-valued for ``"ar1"``; else raise.

    Raises
    ------
    DataError
        Naming ``column`` (and the first offending values).
    """
    bad = np.flatnonzero(~np.isfinite(time))
    if bad.size:
        raise DataError(
            f"residual time column {column!r} has missing or infinite values in "
            f"{bad.size} rows; fill them, or drop those rows"
        )
    fractional = time[time != np.round(time)] if kind == "ar1" else time[:0]
    if fractional.size:
        shown = ", ".join(f"{value:g}" for value in fractional[:_MAX_SHOWN])
        raise DataError(
            f'residual time column {column!r} has non-integer values ({shown}); kind="ar1" '
            'orders the rows by integer times: use integer times, or kind="car1" for '
            "real-valued times"
        )
    return time


def check_distinct_times(
    sorted_series: np.ndarray,
    sorted_time: np.ndarray,
    *,
    column: str,
    group: str,
    levels: tuple[str, ...],
) -> None:
    """Raise :class:`DataError` if a time repeats within one series.

    Parameters
    ----------
    sorted_series : ndarray of int64, shape (n,)
        Series codes of the rows sorted by (series, time).
    sorted_time : ndarray of float64, shape (n,)
        Times of the rows in the same order.
    column, group : str
        Time column and series column/factor, for the message.
    levels : tuple of str
        Series labels, for the message.
    """
    s, t = sorted_series, sorted_time
    repeat = np.flatnonzero((s[1:] == s[:-1]) & (t[1:] == t[:-1]))  # sorted positions
    if not repeat.size:
        return
    shown = _listing(repeat, lambda i: f"{group} {levels[s[i]]!r} at time {t[i]:g}")
    raise DataError(
        f"residual time column {column!r} repeats a time within one series of {group!r}: "
        f"{shown}; each series needs distinct times (aggregate or remove the "
        "duplicates, or choose a finer group)"
    )


def _listing(positions: np.ndarray, describe) -> str:
    """The first offenders at ``positions`` (int array), described and joined by "; ",
    with the total count when more than :data:`_MAX_SHOWN` are left out."""
    shown = "; ".join(describe(i) for i in positions[:_MAX_SHOWN])
    more = f"; ... ({positions.size} in all)" if positions.size > _MAX_SHOWN else ""
    return shown + more


def check_no_gaps(
    sorted_series: np.ndarray,
    sorted_time: np.ndarray,
    *,
    column: str,
    group: str,
    levels: tuple[str, ...],
) -> None:
    """Raise :class:`DataError` if an AR(1) series skips an integer time.

    Parameters are those of :func:`check_distinct_times` (rows sorted by series, time).
    """
    s, t = sorted_series, sorted_time
    skip = np.flatnonzero((s[1:] == s[:-1]) & (t[1:] - t[:-1] > 1))  # sorted positions
    if not skip.size:
        return
    shown = _listing(
        skip, lambda i: f"{group} {levels[s[i]]!r} jumps from time {t[i]:g} to {t[i + 1]:g}"
    )
    raise DataError(
        f'residual time column {column!r} has gaps within series of {group!r} (kind="ar1" '
        f'takes lag 1 as the next integer time): {shown}; pass gaps="order" to treat '
        'each series as consecutive, or use kind="car1" for real-valued time gaps'
    )
