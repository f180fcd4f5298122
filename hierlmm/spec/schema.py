"""Frozen, validated specification records: what model to fit, independent of data.

No pandas and no PyMC here. A :class:`ModelSpec` is built either from an lme4-style
formula (:func:`hierlmm.spec.formula.parse_formula`) or directly from
:class:`GroupSpec` objects; both routes give equal records.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from hierlmm.errors import SpecError
from hierlmm.options import COUNT_FAMILIES, LINKS, Family, GapsMode, ResidualKind, check_option

INTERCEPT = "Intercept"
PRIOR_SETTING_MAX = 1e6  # larger multipliers overflow the data-scaled hyperparameters
_FACTOR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_.]*)*$")


def _as_tuple(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        items = tuple(value)
    except TypeError as exc:
        raise SpecError(f"{what} must be a string or a sequence of strings") from exc
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise SpecError(f"{what} must hold non-empty strings, got {item!r}")
    return tuple(item.strip() for item in items)


@dataclass(frozen=True)
class GroupSpec:
    """Random effects of one grouping factor.

    Parameters
    ----------
    factor : str
        Grouping column, or several joined by ``":"`` for an interaction / nested level
        (``"school:class"`` is class within school).
    intercept : bool
        Whether each level gets a random intercept.
    slopes : tuple of str
        Terms with random slopes (column names or allowed transforms, e.g. ``"log(dose)"``).
    correlated : bool
        ``True``: intercept and slopes share an LKJ-correlated covariance (lme4 ``|``);
        ``False``: independent effects (lme4 ``||``).
    """

    factor: str
    intercept: bool = True
    slopes: tuple[str, ...] = ()
    correlated: bool = True

    def __post_init__(self) -> None:
        factor = str(self.factor).strip()
        if not _FACTOR_RE.match(factor):
            raise SpecError(
                f"grouping factor {self.factor!r} is not a column name or a ':'-joined "
                "set of column names"
            )
        slopes = _as_tuple(self.slopes, f"slopes of grouping factor {factor!r}")
        if len(set(slopes)) != len(slopes):
            raise SpecError(f"grouping factor {factor!r} lists a slope twice: {slopes}")
        if INTERCEPT in slopes:
            raise SpecError(f"use intercept=True rather than a slope named {INTERCEPT!r}")
        if not self.intercept and not slopes:
            raise SpecError(
                f"grouping factor {factor!r} has neither an intercept nor slopes; "
                "give intercept=True or at least one slope"
            )
        object.__setattr__(self, "factor", factor)
        object.__setattr__(self, "slopes", slopes)
        object.__setattr__(self, "intercept", bool(self.intercept))
        object.__setattr__(self, "correlated", bool(self.correlated))

    @property
    def terms(self) -> tuple[str, ...]:
        """Effect names in model order: ``"Intercept"`` first when present, then slopes."""
        return ((INTERCEPT,) if self.intercept else ()) + self.slopes

    @property
    def columns(self) -> tuple[str, ...]:
        """Data columns whose combination defines the levels."""
        return tuple(self.factor.split(":"))

    def to_formula(self) -> str:
        """Return the lme4 term, e.g. ``"(1 + Days | Subject)"`` or ``"(0 + x || g)"``."""
        lhs = " + ".join((("1",) if self.intercept else ("0",)) + self.slopes)
        bar = "|" if self.correlated else "||"
        return f"({lhs} {bar} {self.factor})"

    @classmethod
    def nested(
        cls,
        outer: str,
        inner: str,
        *,
        intercept: bool = True,
        slopes: tuple[str, ...] = (),
        correlated: bool = True,
    ) -> tuple[GroupSpec, GroupSpec]:
        """Return the two specs of ``(... | outer/inner)``: ``outer`` and ``outer:inner``."""
        kwargs = dict(intercept=intercept, slopes=slopes, correlated=correlated)
        return cls(outer, **kwargs), cls(f"{outer}:{inner}", **kwargs)


@dataclass(frozen=True)
class PriorSpec:
    """Multipliers of the data-scaled default priors (see ``docs/priors.md``).

    With ``s_y`` the response SD, ``s_x`` a fixed-effect column's SD and ``s_z`` a
    random-effect column's SD (1 for intercepts):

    - centred intercept ``~ Normal(mean(y), intercept_scale * s_y)``
    - slope ``beta_k ~ Normal(0, fixed_scale * s_y / s_x)``
    - random-effect SD ``~ HalfNormal(sd_scale * s_y / s_z)``
    - LKJ correlation ``~ LKJCorr(lkj_eta)``
    - residual ``sigma ~ Exponential(1 / (sigma_scale * s_y))``
    - AR(1) residual correlation ``(phi + 1) / 2 ~ Beta(phi_alpha, phi_beta)``; CAR(1)
      correlation per unit time ``phi ~ Beta(phi_alpha, phi_beta)``
    """

    intercept_scale: float = 2.5
    fixed_scale: float = 2.5
    sd_scale: float = 2.5
    lkj_eta: float = 2.0
    sigma_scale: float = 1.0
    phi_alpha: float = 2.0
    phi_beta: float = 2.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SpecError(f"prior setting {f.name}={value!r} must be a number")
            if not 0 < value <= PRIOR_SETTING_MAX:  # False for NaN and inf too
                raise SpecError(
                    f"prior setting {f.name}={value!r} must be a finite positive number "
                    f"at most {PRIOR_SETTING_MAX:g}"
                )
            object.__setattr__(self, f.name, float(value))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PriorSpec:
        """Build from a mapping, rejecting unknown keys with a message naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(
                f"unknown prior setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)


@dataclass(frozen=True)
class ResidualSpec:
    """Residual structure: independent errors, or an AR(1) / CAR(1) process per series.

    The design stage orders the rows of ``"ar1"`` and ``"car1"`` series (see
    :class:`hierlmm.design.residual.ResidualDesign`); :mod:`hierlmm.residuals` holds the
    structures both engines fit (Gaussian family only).

    Parameters
    ----------
    kind : {"iid", "ar1", "car1"}
        ``"iid"``: independent residuals ``N(0, sigma^2)``. ``"ar1"``: within each series,
        lag 1 is the next observation in the order of ``time`` (as nlme's ``corAR1``).
        ``"car1"``: correlation ``phi ** |t - t'|`` for real-valued times (nlme's
        ``corCAR1``).
    time : str or None
        Column holding the time of each row: the ordering column for ``"ar1"`` (integer
        valued), real-valued times for ``"car1"``. Required by ``"ar1"`` and ``"car1"``;
        ``"iid"`` takes none.
    group : str or None
        Column, or grouping factor of the model (e.g. ``"school:class"``), within which
        each series runs. ``None`` means the model's first grouping factor (resolved by the
        design stage). ``"iid"`` takes none.
    gaps : {"error", "order"}
        ``"ar1"`` only: a missing integer time inside a series is an error (``"error"``,
        the default) or ignored, the series being taken as consecutive in time order
        (``"order"``).

    Raises
    ------
    SpecError
        For an unknown ``kind``, a ``time`` or ``group`` that is not a non-empty string,
        ``"ar1"``/``"car1"`` without ``time``, ``"iid"`` with ``time`` or ``group``, or
        ``time == group``, an unknown ``gaps`` or ``gaps="order"`` with another kind than
        ``"ar1"``.
    """

    kind: ResidualKind = "iid"
    time: str | None = None
    group: str | None = None
    gaps: GapsMode = "error"

    def __post_init__(self) -> None:
        check_option("residual", self.kind, ResidualKind)
        check_option("residual gaps", self.gaps, GapsMode)
        if self.gaps == "order" and self.kind != "ar1":
            raise SpecError(
                f'residual gaps="order" applies to kind="ar1" only (got kind="{self.kind}"); '
                'drop gaps, or use kind="ar1"'
            )
        for name in ("time", "group"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                raise SpecError(f"residual {name}={value!r} must be a non-empty column name")
            object.__setattr__(self, name, value.strip())
        if self.kind == "iid" and (self.time is not None or self.group is not None):
            given = ", ".join(
                f"{k}={getattr(self, k)!r}" for k in ("time", "group") if getattr(self, k)
            )
            raise SpecError(
                f'residual kind "iid" takes no time or group (got {given}): independent '
                'residuals have no order; use kind="ar1" or "car1" for a series, or drop them'
            )
        if self.kind != "iid" and self.time is None:
            raise SpecError(
                f'residual kind "{self.kind}" needs a time column, e.g. '
                f'ResidualSpec(kind="{self.kind}", time="visit") or time = "visit" in [residual]'
            )
        if self.time is not None and self.time == self.group:
            raise SpecError(
                f"residual time and group are both {self.time!r}; the series must run within "
                "a column other than its time column"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ResidualSpec:
        """Build from a mapping (a ``[residual]`` table), rejecting unknown keys by name."""
        known = tuple(f.name for f in fields(cls))
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise SpecError(
                f"unknown residual setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        return cls(**values)


@dataclass(frozen=True)
class ModelSpec:
    """A complete model: response, fixed terms, grouping factors, family, priors, residual.

    Parameters
    ----------
    response : str
        Response column (or allowed transform, e.g. ``"log(y)"``).
    fixed : tuple of str
        Fixed-effect terms other than the intercept, in formulae syntax
        (``"Days"``, ``"log(x)"``, ``"C(group)"``, ``"a:b"``).
    intercept : bool
        Whether the fixed part has an intercept.
    groups : tuple of GroupSpec
        One entry per grouping factor (nested factors appear as ``a`` and ``a:b``).
    family : str
        Response family (see :mod:`hierlmm.families`).
    priors : PriorSpec
    residual : ResidualSpec
        Residual structure; its ``group`` defaults to the first grouping factor, so an
        ``"ar1"``/``"car1"`` residual without ``group`` needs at least one factor.
    link : str or None
        Link function; ``None`` is the family's default (the first of
        :data:`hierlmm.options.LINKS`; ``"probit"`` is the alternative for
        ``bernoulli``/``binomial``).
    trials : str or None
        Binomial only (and required there): the column or allowed term holding the
        number of trials; ``response`` is then the number of successes.
        ``p(s, n) ~ ...`` and ``cbind(s, n - s) ~ ...`` both give ``trials="n"``.
    offset : str or None
        A column or allowed term added to the linear predictor with coefficient 1, e.g.
        ``"log(exposure)"`` (``offset(log(exposure))`` in a formula). GLMM families only.
    """

    response: str
    fixed: tuple[str, ...] = ()
    intercept: bool = True
    groups: tuple[GroupSpec, ...] = ()
    family: Family = "gaussian"
    priors: PriorSpec = field(default_factory=PriorSpec)
    residual: ResidualSpec = field(default_factory=ResidualSpec)
    link: str | None = None
    trials: str | None = None
    offset: str | None = None

    def __post_init__(self) -> None:
        self._check_glm_fields()
        if not isinstance(self.response, str) or not self.response.strip():
            raise SpecError("response must be a non-empty column name")
        object.__setattr__(self, "response", self.response.strip())
        fixed = _as_tuple(self.fixed, "fixed terms")
        if len(set(fixed)) != len(fixed):
            raise SpecError(f"a fixed term is listed twice: {fixed}")
        object.__setattr__(self, "fixed", fixed)
        groups = tuple(self.groups)
        for g in groups:
            if not isinstance(g, GroupSpec):
                raise SpecError(f"groups must hold GroupSpec objects, got {g!r}")
        factors = [g.factor for g in groups]
        if len(set(factors)) != len(factors):
            raise SpecError(
                f"grouping factor listed twice: {factors}; merge its terms into one GroupSpec"
            )
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "intercept", bool(self.intercept))
        check_option("family", self.family, Family)
        if not isinstance(self.priors, PriorSpec):
            raise SpecError("priors must be a PriorSpec")
        if not isinstance(self.residual, ResidualSpec):
            raise SpecError("residual must be a ResidualSpec")
        residual = self.residual
        if residual.kind != "iid" and residual.group is None and not groups:
            raise SpecError(
                f'residual kind "{residual.kind}" runs within the first grouping factor, and '
                "the model has none; give the series column, e.g. "
                f'ResidualSpec(kind="{residual.kind}", time="{residual.time}", group="id")'
            )

    def _check_glm_fields(self) -> None:
        """Check ``link``, ``trials`` and ``offset`` against the family."""
        check_option("family", self.family, Family)
        links = LINKS[self.family]
        if self.link is not None and self.link not in links:
            raise SpecError(
                f"link={self.link!r} is not available for family {self.family!r}; "
                f"choose one of {', '.join(links)}"
            )
        for key in ("trials", "offset"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise SpecError(f"{key} must be a non-empty column name or term, got {value!r}")
            if value is not None:
                object.__setattr__(self, key, value.strip())
        if self.family == "binomial" and self.trials is None:
            raise SpecError(
                'family "binomial" needs the number of trials: write p(successes, trials) ~ ... '
                'or cbind(successes, failures) ~ ..., or give trials="n"'
            )
        if self.family != "binomial" and self.trials is not None:
            raise SpecError(
                f"trials={self.trials!r} is only used by family \"binomial\" "
                f"(the family is {self.family!r})"
            )
        if self.offset is not None and self.family not in COUNT_FAMILIES:
            raise SpecError(
                f"offset={self.offset!r} needs a GLMM family ({', '.join(COUNT_FAMILIES)}); "
                f"for family {self.family!r} subtract the offset from the response instead"
            )

    @property
    def link_name(self) -> str:
        """The link in use: ``link`` or the family's default."""
        return self.link if self.link is not None else LINKS[self.family][0]

    @property
    def fixed_names(self) -> tuple[str, ...]:
        """Fixed terms as written, with ``"Intercept"`` first when present."""
        return ((INTERCEPT,) if self.intercept else ()) + self.fixed

    @property
    def fixed_formula(self) -> str:
        """The fixed part as a formulae formula, e.g. ``"Reaction ~ 1 + Days"``."""
        rhs = " + ".join((("1",) if self.intercept else ("0",)) + self.fixed)
        return f"{self.response} ~ {rhs}"

    @property
    def formula(self) -> str:
        """An lme4 formula equivalent to this spec."""
        lhs = self.response if self.trials is None else f"p({self.response}, {self.trials})"
        rhs = self.fixed_formula.split(" ~ ", 1)[1]
        parts = [f"{lhs} ~ {rhs}"]
        parts += [f"offset({self.offset})"] if self.offset is not None else []
        parts += [g.to_formula() for g in self.groups]
        return " + ".join(parts)

    def group(self, factor: str) -> GroupSpec:
        """Return the :class:`GroupSpec` of ``factor``."""
        for g in self.groups:
            if g.factor == factor:
                return g
        raise SpecError(
            f"no grouping factor {factor!r}; the model has {[g.factor for g in self.groups]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict; inverse of :meth:`from_dict`."""
        out = asdict(self)
        out["fixed"] = list(self.fixed)
        out["groups"] = [dict(asdict(g), slopes=list(g.slopes)) for g in self.groups]
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        values = dict(values)
        values["fixed"] = tuple(values.get("fixed", ()))
        values["groups"] = tuple(
            GroupSpec(**dict(g, slopes=tuple(g.get("slopes", ()))))
            for g in values.get("groups", ())
        )
        values["priors"] = PriorSpec(**values.get("priors", {}))
        values["residual"] = ResidualSpec.from_dict(values.get("residual", {}))
        return cls(**values)


def check_residual(residual: object) -> ResidualSpec | None:
    """Return ``residual`` if it is a :class:`ResidualSpec` or ``None``, else raise.

    Raises
    ------
    SpecError
        Naming the type given and showing how to build a :class:`ResidualSpec`.
    """
    if residual is None or isinstance(residual, ResidualSpec):
        return residual
    raise SpecError(
        f"residual must be a hierlmm.ResidualSpec or None, got {type(residual).__name__} "
        f'{residual!r}; e.g. ResidualSpec(kind="ar1", time="visit", group="Subject")'
    )


def with_residual(spec: ModelSpec, residual: ResidualSpec | None) -> ModelSpec:
    """Return ``spec`` with the residual structure ``residual``.

    This is what ``hierlmm.fit(spec, data, residual=...)`` applies to a spec.

    Parameters
    ----------
    spec : ModelSpec
    residual : ResidualSpec or None
        ``None`` keeps ``spec.residual``.

    Returns
    -------
    ModelSpec
        ``spec`` itself when nothing changes, else a copy with ``residual`` (validated
        again, e.g. a series residual without ``group`` needs a grouping factor).

    Raises
    ------
    SpecError
        If ``residual`` is not a :class:`ResidualSpec` or ``None``, or if ``spec`` already
        holds a different, non-default residual (give it in one place only).
    """
    residual = check_residual(residual)
    if residual is None or residual == spec.residual:
        return spec
    if spec.residual != ResidualSpec():
        raise SpecError(
            f"the spec already has residual {spec.residual!r} and residual={residual!r} was "
            "given as well; give the residual structure in one place only"
        )
    return replace(spec, residual=residual)
