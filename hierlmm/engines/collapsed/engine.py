"""Collapsed engine: the largest grouping factor's effects are integrated out exactly.

For a Gaussian family the factor with the most effects (levels x q) is marginalised
with Woodbury's identity and the matrix determinant lemma from per-level sufficient
statistics (Bates et al. 2015, sec. 3; :mod:`hierlmm.engines.collapsed.likelihood`).
Any other factors are sampled non-centred and enter as an offset. The statistics are
computed once, split into a y-independent and a y-dependent part
(:mod:`hierlmm.engines.collapsed.stats`), and feed both the likelihood and the exact
draws of the integrated-out effects after sampling
(:mod:`hierlmm.engines.collapsed.effects`).

With AR(1)/CAR(1) residuals (Gaussian) the statistics are ``R^{-1}``-weighted and
formed per gradient from pieces computed once (:mod:`hierlmm.engines.collapsed.series`);
the residual's series must be nested in the integrated factor's levels.

The response is centred (``y - shift``, ``shift = mean(y)`` with an intercept) before
its statistics are formed, for accuracy; the intercept absorbs the shift.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pymc as pm

from hierlmm.design.design import Design, GroupDesign
from hierlmm.engines.base import NEAR_PROBES, Engine, IndependenceSettings
from hierlmm.engines.collapsed.allfactor import Response
from hierlmm.engines.collapsed.allfactor_effects import add_all_effects
from hierlmm.engines.collapsed.allfactor_op import allfactor_loglik_op
from hierlmm.engines.collapsed.blocks import (
    FactorBlocks,
    dense_size,
    factor_blocks,
    order_groups,
    response_blocks,
)
from hierlmm.engines.collapsed.effects import EFFECTS_GROUP, add_collapsed_effects
from hierlmm.engines.collapsed.fixed_conditional import FixedConditional
from hierlmm.engines.collapsed.likelihood import collapsed_loglik, stats_layout, stats_views
from hierlmm.engines.collapsed.series import (
    SeriesPieces,
    piece_arrays,
    series_loglik,
    series_pieces,
)
from hierlmm.engines.collapsed.stats import GroupSuffStats, shifted_beta, suffstats_for
from hierlmm.engines.threads import evaluation_threads
from hierlmm.model import names
from hierlmm.model.priors import prior_inputs
from hierlmm.model.random_effects import informative_intercepts

PYFUNC_MAX_EFFECTS = 10_000  # collapsed levels x effects up to which Python callbacks win
Y_SHIFT = "y_shift"  # data container: the constant subtracted from y
ALL_MAX_FLOPS = 5e7  # all factors integrated out while one gradient costs at most this
ALL_MIN_ROWS = 2_000  # ... and the data have at least this many rows
IMH_MAX_FLOPS = 1e10  # ... or at most this under the independence sampler (m ~ 2,100)
ALL_INPUTS = ("allfactor_Zty", "allfactor_Xty", "allfactor_yty")
ALL_WARMUP = 10  # independence-sampler warm-up proposals per chain on the all-factor path
AUTO_IMH_MAX_PARAMS = 8  # one-factor designs with at most this many parameters ...
AUTO_IMH_MIN_WARMUP = 2_000  # ... and at least this many warm-up draws (chains x tune)


def allfactor_flops(design: Design) -> float:
    """Estimated flops of one all-factor value + gradient (:mod:`.allfactor`).

    ``m^3`` (Cholesky and inverse of the dense Schur block) plus two products with the
    pattern of ``G12' G12``: at most ``L1 q1 m^2`` (dense) and at most
    ``sum_j n_j min(n_j, m)`` over the first factor's levels (sparse).
    """
    groups = order_groups(design.groups)
    first, m = groups[0], dense_size(groups)
    counts = np.bincount(first.codes, minlength=first.n_levels).astype(np.float64)
    pairs = min(first.n_levels * first.q * m**2, float(np.sum(counts * np.minimum(counts, m))))
    return float(m) ** 3 + 2.0 * pairs


def integrates_all(design: Design, independence: bool = False) -> bool:
    """Whether the collapsed engine integrates every factor out (the all-factor path).

    Rule: at least two factors, at least :data:`ALL_MIN_ROWS` rows and one value +
    gradient estimated (:func:`allfactor_flops`) at most

    - :data:`ALL_MAX_FLOPS` for NUTS (about 10-20 ms on the 2-core development machine),
      which spends several gradients per draw;
    - :data:`IMH_MAX_FLOPS` when the independence sampler may run (``independence``:
      ``sampler="auto"`` or ``"independence"``), which spends one value per draw
      (InstEval, m = 1,142: about 40 ms per value).

    Otherwise the largest factor alone is integrated out and the others are sampled, at
    O(n) per gradient: with few rows that costs less than the all-factor path's fixed
    Python overhead (about 3 ms, Penicillin), and with a large dense block under NUTS
    (InstEval: ~0.15 s per gradient here) the O(m^3) algebra costs far more than O(n).
    """
    groups = design.groups
    if len(groups) < 2 or design.n < ALL_MIN_ROWS:
        return False
    return allfactor_flops(design) <= (IMH_MAX_FLOPS if independence else ALL_MAX_FLOPS)


def prefers_independence(design: Design) -> bool:
    """Whether ``sampler="auto"`` runs the independence sampler: all factors integrated out
    and one value + gradient above :data:`ALL_MAX_FLOPS` (NUTS would spend minutes)."""
    return integrates_all(design, independence=True) and not integrates_all(design)


def few_parameters(design: Design) -> bool:
    """Whether ``sampler="auto"`` runs the independence sampler on a one-factor design:
    at most :data:`AUTO_IMH_MAX_PARAMS` parameters (fixed effects, the factor's SDs and
    correlations, sigma), whose posterior the Laplace-fitted t then covers well and
    whose log-density costs O(levels q^3) a call (sleepstudy: 6 parameters, ~90 us).
    The sleepstudy fit then takes ~1 s instead of ~5 s with NUTS, whose ~60,000
    Python callbacks are the cost there."""
    if len(design.groups) != 1:
        return False
    q = design.groups[0].q
    return design.X.shape[1] + q * (q + 1) // 2 + 1 <= AUTO_IMH_MAX_PARAMS


def integrated_group(groups: tuple[GroupDesign, ...]) -> GroupDesign:
    """The factor the collapsed engine integrates out: the one with most effects."""
    return max(groups, key=lambda g: g.n_levels * g.q)


class CollapsedEngine(Engine):
    """Gaussian likelihood with one factor's effects integrated out analytically."""

    name = "collapsed"
    supports_independence = True

    @cached_property
    def group(self) -> GroupDesign:
        """The integrated-out factor."""
        return integrated_group(self.design.groups)

    @property
    def integrated_factor(self) -> str:
        return self.group.factor

    @cached_property
    def shift(self) -> float:
        """Constant subtracted from y before its statistics are formed."""
        return float(self.design.y.mean()) if self.intercept_index is not None else 0.0

    @cached_property
    def stats(self) -> GroupSuffStats:
        """Sufficient statistics of the integrated factor, on ``(X, y - shift)``."""
        return suffstats_for(self.design, self.group, shift=self.shift)

    @cached_property
    def all_factors(self) -> bool:
        """Whether every factor is integrated out (:func:`integrates_all`).

        Not with AR(1)/CAR(1) residuals: their ``R^-1``-weighted statistics exist for the
        largest factor only, the other factors are sampled.
        """
        independence = self.sampler_request in ("auto", "independence")
        return self.residual is None and integrates_all(self.design, independence)

    def exact_conditional(self) -> FixedConditional | None:
        """The fixed effects' conditional when every factor is integrated out."""
        if not self.all_factors:
            return None
        response = Response(*self.all_response)
        return FixedConditional.build(
            blocks=self.blocks, response=response, groups=order_groups(self.design.groups),
            inputs=prior_inputs(self.design, self.spec.priors, self.family),
            intercept_index=self.intercept_index, shift=self.shift,
        )

    def choose_sampler(self, warmup_draws: int = 0) -> str:
        """``"auto"``: the independence sampler when every factor of a large design is
        integrated out (:func:`prefers_independence`), or when a one-factor design has few
        parameters (:func:`few_parameters`) and the warm-up (``warmup_draws``, chains x
        tune) has at least :data:`AUTO_IMH_MIN_WARMUP` draws, enough importance draws
        to estimate the proposal's covariance (:func:`~hierlmm.inference.proposals.adapted`
        needs a Kish ESS of 20 per covariance entry, 420 for 6 parameters); nutpie's NUTS
        otherwise."""
        if self.sampler_request == "auto" and self.residual is None and (
                prefers_independence(self.design) or self.cheap_independence(warmup_draws)):
            return "independence"
        return super().choose_sampler(warmup_draws)

    def cheap_independence(self, warmup_draws: int) -> bool:
        """Whether ``"auto"`` runs the independence sampler on a cheap one-factor design
        (then a fit whose diagnostics fail is redone, longer on a narrow miss, else with
        NUTS, see :func:`hierlmm.fit`)."""
        return warmup_draws >= AUTO_IMH_MIN_WARMUP and few_parameters(self.design)

    def independence_settings(self, tune: int) -> IndependenceSettings:
        """One factor integrated out: the default (a cheap log-density; the sampler stops
        its warm-up at what the covariance estimate needs,
        :func:`~hierlmm.inference.proposals.warmup_per_chain`). On the all-factor
        path (a dense Cholesky a call, without the GIL): at most :data:`ALL_WARMUP`
        warm-up proposals per chain (they only start the chains),
        :func:`~hierlmm.engines.threads.evaluation_threads` threads and the split-t base
        proposal probed 3 SDs out only (InstEval, seeds 1-6, 4 x 250 draws: acceptance
        0.82-0.84 and min bulk ESS 403-679, against 0.73-0.81 and 288-511 (seeds 1-5) for
        the plain t with 30 warm-up draws a chain moving its centre). The far probe
        (:data:`~hierlmm.engines.base.FAR_PROBES`) would widen the departments' left side
        (scale 1.2 -> 2.3) for a posterior SD of sd(dept) 1-4% larger, at an acceptance
        of 0.67-0.69 instead of 0.88 and a min bulk ESS of 408-417 instead of 672-770
        (seeds 1-2): that SD agrees with NUTS' already (0.091 against 0.091-0.094)."""
        if not self.all_factors:
            return super().independence_settings(tune)
        return IndependenceSettings(min(tune, ALL_WARMUP), evaluation_threads(), NEAR_PROBES)

    @property
    def sampled_groups(self) -> tuple[GroupDesign, ...]:
        if self.all_factors:
            return ()
        return super().sampled_groups

    @cached_property
    def blocks(self) -> FactorBlocks:
        """Cross-products of every factor (all-factor path only)."""
        return factor_blocks(self.design)

    @cached_property
    def all_response(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``(Z'y, X'y, y'y)`` of ``y - shift`` over every factor (all-factor path only),
        read by the likelihood's inputs, the fixed effects' conditional and the effects."""
        return response_blocks(self.design, self.design.y - self.shift)

    def structure_key(self, inputs: dict[str, np.ndarray]) -> tuple:
        key = super().structure_key(inputs)
        if self.all_factors:  # the blocks live on the Op: one compile per design
            key = (*key, "all-factors", self.blocks.fingerprint)
        return key

    @cached_property
    def centred_factors(self) -> frozenset[str]:
        """Sampled single-effect factors whose data pin their levels down, centred.

        Next to an integrated-out factor, a strongly identified sampled factor (e.g.
        the items of a subjects x items design, 30 observations each) mixes slowly
        non-centred: on a simulated 30 x 20 crossed design (4 x 1000 draws) the
        smallest bulk ESS rose from 445 (the item SD) to 625 and max R-hat fell from
        1.015 to 1.003. In the sampled engine centring every informative factor made
        the SDs mix well (ESS ~4,900) but slowed the intercept (ESS 393), so it keeps
        the non-centred form.
        """
        y = self.design.y
        return frozenset(
            g.factor for g in self.sampled_groups if informative_intercepts(g, y)
        )

    @property
    def has_offset(self) -> bool:
        """Whether other factors are sampled and enter as an offset."""
        return len(self.design.groups) > 1

    def prefers_python_callback(self) -> bool:
        """Python callbacks below :data:`PYFUNC_MAX_EFFECTS` collapsed effects.

        Measured here (2 cores): for small collapsed models nutpie's numba C-callback
        compile (7-30 s per process) dwarfs sampling, so Python callbacks (about 1 s to
        compile, from the disk cache) win; from about 10,000 collapsed effects on, each
        gradient costs enough that the C callback's lower overhead and parallel chains
        win (sim 10,000 x 20: sampling 2.5 s against 10 s).
        """
        if self.all_factors:  # the likelihood is a Python Op (scipy, LAPACK)
            return True
        return self.group.n_levels * self.group.q < PYFUNC_MAX_EFFECTS

    def _stat_name(self, field: str) -> str:
        return f"{field}_{self.group.factor}"

    @cached_property
    def pieces(self) -> SeriesPieces | None:
        """Pieces of the ``R^{-1}``-weighted statistics (AR(1)/CAR(1) residuals only)."""
        if self.residual is None:
            return None
        return series_pieces(self.design, self.group, self.shift)

    def _series_name(self, field: str) -> str:
        return f"series_{field}_{self.group.factor}"

    def _series_inputs(self) -> dict[str, np.ndarray]:
        pieces = self.pieces
        out = {self._series_name(k): v
               for k, v in piece_arrays(pieces, self.residual.kind).items()}
        out[Y_SHIFT] = np.asarray(self.shift)
        if self.has_offset:
            order = pieces.order
            out |= {
                self._series_name("order"): order,
                self._series_name("level"): pieces.level,
                self._series_name("Z"): self.group.Z[order],
                self._series_name("X"): self.design.X[order],
                self._series_name("y"): self.design.y[order] - self.shift,
            }
        return out

    def likelihood_inputs(self) -> dict[str, np.ndarray]:
        if self.residual is not None:
            return self._series_inputs()
        if self.all_factors:
            stats = self.all_response
            return {**dict(zip(ALL_INPUTS, map(np.asarray, stats), strict=True)),
                    Y_SHIFT: np.asarray(self.shift)}
        out = {self._stat_name(k): v for k, (v, _) in stats_layout(self.stats).items()}
        out[Y_SHIFT] = np.asarray(self.shift)
        if self.has_offset:
            out |= self._group_inputs(self.group)
            out[names.DATA_Y] = self.design.y - self.shift
            out[names.DATA_X] = self.design.X
        return out

    def input_shapes(self) -> dict[str, tuple[int | None, ...]]:
        if self.residual is not None or self.all_factors:
            return {}
        shapes = {self._stat_name(k): s for k, (_, s) in stats_layout(self.stats).items()}
        shapes[names.data_z(self.group.factor)] = (None, self.group.q)
        return shapes

    def _add_series_likelihood(self, *, data, beta, chols, params, offset) -> None:
        fields = piece_arrays(self.pieces, self.residual.kind)
        obs = None
        if offset is not None:
            obs = {k: data[self._series_name(k)] for k in ("order", "level", "Z", "X", "y")}
            obs["offset"] = offset
        loglik = series_loglik(
            beta=shifted_beta(beta, data[Y_SHIFT], self.intercept_index),
            sigma=params[names.SIGMA], chol=chols[self.group.factor], phi=params[names.PHI],
            structure=self.residual, data={k: data[self._series_name(k)] for k in fields},
            q=self.group.q, p=self.design.p, obs=obs,
        )
        pm.Potential(names.COLLAPSED_LOGLIK, loglik)

    def add_likelihood(self, *, data, beta_c, beta, chols, params, offset) -> None:
        if self.residual is not None:
            self._add_series_likelihood(
                data=data, beta=beta, chols=chols, params=params, offset=offset
            )
            return
        if self.all_factors:
            loglik = allfactor_loglik_op(
                self.blocks, self.blocks.fingerprint,
                beta=shifted_beta(beta, data[Y_SHIFT], self.intercept_index),
                sigma=params[names.SIGMA],
                chols=[chols[f] for f in self.blocks.factors],
                Zty=data[ALL_INPUTS[0]], Xty=data[ALL_INPUTS[1]], yty=data[ALL_INPUTS[2]],
            )
            pm.Potential(names.COLLAPSED_LOGLIK, loglik)
            return
        stats = stats_views({k: data[self._stat_name(k)] for k in stats_layout(self.stats)})
        obs = {}
        if offset is not None:
            f = self.group.factor
            obs = dict(codes=data[names.data_codes(f)], Z=data[names.data_z(f)],
                       y=data[names.DATA_Y], X=data[names.DATA_X])
        loglik = collapsed_loglik(
            beta=shifted_beta(beta, data[Y_SHIFT], self.intercept_index),
            sigma=params[names.SIGMA], chol=chols[self.group.factor], stats=stats,
            offset=offset, **obs,
        )
        pm.Potential(names.COLLAPSED_LOGLIK, loglik)

    def finish(self, posterior, seed):
        """Draw the integrated factors' effects exactly (thinned when over budget)."""
        if self.all_factors:
            posterior, thinned = add_all_effects(
                posterior, design=self.design, blocks=self.blocks,
                response=self.all_response,
                shift=self.shift, intercept_index=self.intercept_index, seed=seed,
            )
            return posterior, ({} if thinned is None else {EFFECTS_GROUP: thinned})
        series = None if self.residual is None else (self.pieces, self.residual)
        posterior, thinned = add_collapsed_effects(
            posterior, design=self.design, group=self.group,
            stats=self.stats if series is None else None,
            shift=self.shift, intercept_index=self.intercept_index, seed=seed, series=series,
        )
        return posterior, ({} if thinned is None else {EFFECTS_GROUP: thinned})
