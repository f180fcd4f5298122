"""The independence sampler on targets with known answers (numpy log-densities)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hierlmm.errors import FitError
from hierlmm.inference.independence import (
    Evaluator,
    Target,
    sample_independence,
    split_scales,
)
from hierlmm.inference.laplace_fit import ExactBlock, laplace
from hierlmm.inference.proposals import (
    ADAPTED_DF,
    ADAPTED_SPLIT_DF,
    DF,
    SCALE,
    WARMUP_MAX,
    Proposal,
    SplitProposal,
    adapted,
    warmup_per_chain,
)

MEAN = np.array([1.0, -2.0, 0.5])
COV = np.array([[1.0, 0.6, 0.0], [0.6, 2.0, -0.3], [0.0, -0.3, 0.5]])
PREC = np.linalg.inv(COV)


def _gauss(x):
    r = np.asarray(x) - MEAN
    return -0.5 * r @ PREC @ r, -PREC @ r


def _joint(x):
    """theta ~ N(1, 2^2), beta | theta ~ N(theta, 0.5^2): value and gradient."""
    theta, beta = x
    value = -0.5 * ((theta - 1.0) / 2.0) ** 2 - 0.5 * ((beta - theta) / 0.5) ** 2
    g_beta = -(beta - theta) / 0.25
    return value, np.array([-(theta - 1.0) / 4.0 - g_beta, g_beta])


def _value(fn):
    return lambda x: [fn(x)[0]]


def _run(fn, d, seed=3, draws=1500, chains=4, exact=None, probes=(), warmup=WARMUP_MAX):
    return sample_independence(fn, _value(fn), np.zeros(d), draws=draws, tune=50,
                               chains=chains, seed=seed, exact=exact, probes=probes,
                               warmup=warmup)


def test_laplace_of_a_gaussian_is_exact():
    fitted = laplace(_gauss, np.zeros(3))
    np.testing.assert_allclose(fitted.mode, MEAN, atol=1e-5)
    np.testing.assert_allclose(fitted.cov, COV, rtol=1e-4, atol=1e-6)


def test_laplace_with_an_exact_block_profiles_it_and_keeps_the_joint_curvature():
    """theta ~ N(1, 2^2), beta | theta ~ N(theta, 0.5^2): the optimiser moves theta
    alone (beta at its conditional mean), the Hessian differences theta alone and takes
    beta's block from the conditional; mode and covariance are still the joint's."""

    def conditional(x):
        return np.array([x[0]]), np.array([[2.0]])

    fitted = laplace(_joint, np.array([0.0, 5.0]), exact=ExactBlock(np.array([1]), conditional))
    np.testing.assert_allclose(fitted.mode, [1.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(fitted.cov, [[4.0, 4.0], [4.0, 4.25]], rtol=1e-4)
    assert fitted.n_gradients < 20


def test_gaussian_target_recovered_with_high_acceptance():
    run = _run(_gauss, 3)
    x = run.chains.x.reshape(-1, 3)
    se = np.sqrt(np.diag(COV) / x.shape[0]) * 3  # allows an ESS of a ninth of the draws
    np.testing.assert_array_less(np.abs(x.mean(0) - MEAN), 3 * se)
    np.testing.assert_allclose(np.cov(x.T), COV, rtol=0.12, atol=0.05)
    assert run.chains.accepted.mean() > 0.6


def _gamma_log_scale(x):
    """log-density of u = log(v), v ~ Gamma(shape 3, rate 1): skewed on the sampled scale."""
    u = float(x[0])
    return 3.0 * u - np.exp(u), np.array([3.0 - np.exp(u)])


@pytest.mark.parametrize("split", [False, True])
def test_skewed_target_is_corrected_by_the_metropolis_step(split: bool) -> None:
    """The Laplace t is centred at the mode (log 3 = 1.099) and symmetric; the target's
    mean is digamma(3) = 0.923 and it is left-skewed: only the accept/reject step gets
    the moments right. The split-t follows the skew (wider on the left), so it is
    accepted more often."""
    run = _run(_gamma_log_scale, 1, draws=3000, probes=(3.0,) if split else (),
               warmup=2)  # no adaptation
    if split:
        assert run.proposal.minus[0] > 1.2 * run.proposal.plus[0]
        plain = _run(_gamma_log_scale, 1, draws=3000, warmup=2)
        assert run.chains.accepted.mean() > plain.chains.accepted.mean() + 0.01  # 0.882, 0.862
    u = run.chains.x.reshape(-1)
    want_mean, want_sd = stats.loggamma(3.0).mean(), stats.loggamma(3.0).std()
    assert abs(u.mean() - want_mean) < 4 * want_sd / np.sqrt(u.size / 3)
    assert u.std() == pytest.approx(want_sd, rel=0.08)
    assert abs(u.mean() - np.log(3.0)) > 0.1  # the mode is not the answer
    q05 = np.quantile(u, 0.05)
    assert q05 == pytest.approx(stats.loggamma(3.0).ppf(0.05), abs=0.1)


def test_exact_block_gives_the_joint_and_weights_free_of_the_block():
    """beta | theta ~ N(theta, 0.5^2) drawn exactly; theta ~ N(1, 2^2): the weights then
    depend on theta alone (constant here, as the theta proposal is its exact normal)."""

    block = ExactBlock(np.array([1]), lambda x: (np.array([x[0]]), np.array([[2.0]])))
    run = _run(_joint, 2, exact=block, draws=1500)
    x = run.chains.x.reshape(-1, 2)
    assert x[:, 0].mean() == pytest.approx(1.0, abs=0.15)
    assert x[:, 1].std() == pytest.approx(np.sqrt(4.0 + 0.25), rel=0.1)
    assert np.corrcoef(x.T)[0, 1] == pytest.approx(2.0 / np.sqrt(4.25), abs=0.03)
    # log w = log p(theta) - log q(theta) + const: no beta-dependent scatter
    theta = run.chains.x[..., 0].ravel()
    want = stats.norm(1.0, 2.0).logpdf(theta) - run.proposal.logpdf(theta[:, None])
    assert np.ptp(run.chains.log_weight.ravel() - want) < 1e-8


def test_proposals_evaluated_on_more_threads_give_the_same_draws():
    """Extra evaluators (one per thread) change who evaluates, not what: the exact
    block's normals are drawn before the proposals are shared out."""

    def conditional(x):
        return np.array([x[0]]), np.array([[2.0]])

    block = ExactBlock(np.array([1]), conditional)
    one = _run(_joint, 2, exact=block, draws=200, probes=(3.0,))
    calls = []

    def counted(x):
        calls.append(x.copy())
        return _value(_joint)(x)

    three = sample_independence(
        _joint, _value(_joint), np.zeros(2), draws=200, tune=50, chains=4, seed=3,
        exact=block, extra=[Evaluator(counted, ExactBlock(np.array([1]), conditional))] * 2,
        probes=(3.0,))
    np.testing.assert_array_equal(one.chains.x, three.chains.x)
    np.testing.assert_array_equal(one.chains.log_weight, three.chains.log_weight)
    assert 0 < len(calls) < 4 * (200 + 50)  # the extra threads took part of the work


def test_same_seed_same_draws_other_seed_other_draws():
    a, b, c = _run(_gauss, 3, seed=5, draws=50), _run(_gauss, 3, seed=5, draws=50), \
        _run(_gauss, 3, seed=6, draws=50)
    np.testing.assert_array_equal(a.chains.x, b.chains.x)
    assert not np.array_equal(a.chains.x, c.chains.x)


def test_flat_direction_is_a_clear_error():
    def flat(x):  # no curvature along x[1]
        return -0.5 * x[0] ** 2, np.array([-x[0], 0.0])

    with pytest.raises(FitError, match="no proper mode"):
        laplace(flat, np.zeros(2))


def test_failing_log_density_counts_as_rejection():
    def fragile(x):
        if x[0] > 2.0:
            raise np.linalg.LinAlgError("not positive definite")
        return _gauss(x)

    run = _run(fragile, 3, draws=300)
    assert run.chains.x[..., 0].max() <= 2.0
    assert np.isfinite(run.chains.lp).all()


def test_advice_for_an_unconverged_independence_fit_names_the_sampler():
    from hierlmm.inference.advice import convergence_advice

    class _Design:
        groups = ()

    advice = convergence_advice({"divergences": 0, "max_rhat": 1.05, "min_ess_bulk": 90},
                                _Design(), {"chains": 4, "sampler": "independence"})
    assert "independence sampler" in advice and 'sampler="nutpie"' in advice


def test_long_warm_up_replaces_the_laplace_covariance_by_the_weighted_one():
    """Base proposal with the wrong covariance (identity) against a correlated Gaussian:
    4,000 weighted draws estimate the mean and covariance; 100 keep the Laplace one."""
    rng = np.random.default_rng(5)
    base = Proposal(MEAN + 0.3, np.eye(3), DF)

    def weighted(n):
        x = base.draw(rng, n)
        lp = np.array([_gauss(row)[0] for row in x])
        return adapted(base, x, lp - base.logpdf(x))

    long = weighted(4000)
    np.testing.assert_allclose(long.mean, MEAN, atol=0.1)
    assert long.df == ADAPTED_DF
    np.testing.assert_allclose(long.cov, SCALE**2 * COV * (ADAPTED_DF - 2) / ADAPTED_DF,
                               rtol=0.2, atol=0.1)
    short = weighted(100)  # Kish ESS < 20 per covariance entry (120): Laplace scale kept
    np.testing.assert_allclose(short.cov, SCALE**2 * np.eye(3) * (DF - 2) / DF)
    assert short.df == DF


def test_warm_up_length_follows_the_argument_up_to_what_the_covariance_needs():
    for warmup, per_chain in ((100, 100), (200, 150)):  # 3 x 3 cov: 6 x 50 / 2 chains
        counted = []
        run = sample_independence(_gauss, _value(_gauss), np.zeros(3), draws=10, tune=500,
                                  chains=2, seed=1, tick=counted.append, warmup=warmup)
        assert sum(counted) == 2 * (per_chain + 10)
        assert run.chains.x.shape == (2, 10, 3)


def test_warm_up_per_chain():
    assert warmup_per_chain(6, 4, 1000, 1000) == 263  # sleepstudy: ceil(21 x 50 / 4)
    assert warmup_per_chain(6, 4, 200, 1000) == 200  # tune first
    assert warmup_per_chain(4, 4, 1000, 30) == 30  # the all-factor engine's cap
    assert warmup_per_chain(40, 2, 1000, 1000) == 1000


def test_split_scales_recover_each_side_of_a_split_normal():
    """log p = -x_j^2 / (2 s_j^2), s_j = plus_j for x_j > 0 and minus_j below: probing
    at 3 SDs both ways gives the sides exactly (within the kept range)."""
    plus, minus = np.array([1.4, 0.8]), np.array([0.7, 2.5])

    def split_normal(x):
        s = np.where(x > 0, plus, minus)
        return [float(-0.5 * np.sum((x / s) ** 2))]

    target = Target((Evaluator(split_normal),), np.zeros(2))
    got = split_scales(target, np.zeros(2), np.eye(2), np.random.default_rng(0), lambda k: None,
                       (3.0,))
    np.testing.assert_allclose(got[0], plus, rtol=1e-12)
    np.testing.assert_allclose(got[1], minus, rtol=1e-12)


def test_split_scales_take_the_widest_side_over_the_probe_distances():
    """The probes are taken about the mode (here not the origin). A split normal gives
    the same sides at 3 and 9 SDs; the log of a half-normal SD (log p = u - e^(2u) / 2,
    mode 0, Laplace SD 1 / sqrt 2) has an exponential left tail: its drop at 3 Laplace
    SDs (u = -2.12: 1.63) gives the side 3 / sqrt(2 x 1.63) = 1.66, at 9 SDs (5.86)
    2.63; its right side falls like exp(-e^(2u)), kept at the range's floor, 0.5."""
    plus, minus, mode = np.array([1.4, 0.8]), np.array([0.7, 2.5]), np.array([2.0, -1.0])

    def split_normal(x):
        s = np.where(x > mode, plus, minus)
        return [float(-0.5 * np.sum(((x - mode) / s) ** 2))]

    def scales(fn, centre, axes, probes):
        target = Target((Evaluator(fn),), centre)
        return split_scales(target, centre, axes, np.random.default_rng(0), lambda k: None,
                            probes)

    for probes in ((3.0,), (3.0, 9.0)):
        got = scales(split_normal, mode, np.eye(2), probes)
        np.testing.assert_allclose(got[0], plus, rtol=1e-12)
        np.testing.assert_allclose(got[1], minus, rtol=1e-12)
    axes = np.array([[np.sqrt(0.5)]])
    near = scales(_log_half_normal_sd, np.zeros(1), axes, (3.0,))
    far = scales(_log_half_normal_sd, np.zeros(1), axes, (3.0, 9.0))
    assert near[1][0] == pytest.approx(1.662, abs=1e-3)
    assert far[1][0] == pytest.approx(2.628, abs=1e-3)
    assert far[0][0] == near[0][0] == 0.5


def _log_half_normal_sd(x):
    """u = log |z|, z ~ N(0, 1): the log-scale posterior of an SD with no information."""
    return [float(x[0] - np.exp(2.0 * x[0]) / 2.0)]


def _log_half_normal_sd_grad(x):
    return _log_half_normal_sd(x)[0], np.array([1.0 - np.exp(2.0 * x[0])])


@pytest.mark.parametrize("seed", range(1, 7))
def test_far_probes_and_weighted_sides_cover_a_log_sd_long_left_tail(seed: int) -> None:
    """u = log |z|: SD pi / sqrt 8, 1% quantile log(Phi^-1(0.505)) = -4.38, 6.2 Laplace
    SDs below the mode. The split-t probed 3 and 9 SDs out, its sides then weighted by
    the warm-up (4 x 4,000 draws after the 13 warm-up draws a chain that one parameter
    needs, as the engines' cheap settings give), puts 1% and 5% of the draws below the
    true quantiles (measured, seeds 1-6: 0.86-1.04% and 4.67-5.14%; SD ratio 0.985-1.006)
    and the bounds are ~3.5 binomial SEs at an ESS of 4,000. The plain t with the
    importance-weighted covariance, the route before, gave SD ratios 0.855-1.448 and
    0-9.8% below the 1% quantile: it missed the tail or stuck in it."""
    run = sample_independence(_log_half_normal_sd_grad, _log_half_normal_sd, np.zeros(1),
                              draws=4000, tune=1000, chains=4, seed=seed,
                              warmup=1000, probes=(3.0, 9.0))
    assert isinstance(run.proposal, SplitProposal) and run.proposal.df == ADAPTED_SPLIT_DF
    u = run.chains.x.ravel()
    assert u.std() / (np.pi / np.sqrt(8.0)) == pytest.approx(1.0, abs=0.04)
    below_1 = np.mean(u < np.log(stats.norm.ppf(0.505)))
    below_5 = np.mean(u < np.log(stats.norm.ppf(0.525)))
    assert 0.0055 < below_1 < 0.0145
    assert 0.04 < below_5 < 0.06


def test_split_proposal_density_matches_its_draws():
    """The split-t's log-density is normalised and is the density of its draws: box
    probabilities from 200,000 draws against the density integrated on a grid."""
    axes = np.array([[1.0, 0.0], [0.5, 0.8]])
    proposal = SplitProposal(np.array([0.3, -0.2]), axes, np.array([1.5, 0.7]),
                             np.array([0.6, 1.3]), df=7.0, c=1.1)
    x = proposal.draw(np.random.default_rng(1), 200_000)
    grid = np.linspace(-12, 12, 961)
    gx, gy = np.meshgrid(grid, grid, indexing="ij")
    dens = np.exp(proposal.logpdf(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(gx.shape)
    cell = (grid[1] - grid[0]) ** 2
    assert dens.sum() * cell == pytest.approx(1.0, abs=0.01)
    for lo, hi in (((-1, -1), (0.3, 0.2)), ((0.3, -0.2), (3, 3)), ((-4, 0), (0, 4))):
        inside = np.all((x > lo) & (x < hi), axis=1).mean()
        mask = (gx > lo[0]) & (gx < hi[0]) & (gy > lo[1]) & (gy < hi[1])
        assert inside == pytest.approx(dens[mask].sum() * cell, abs=0.01)


def test_a_thinned_run_keeps_every_thin_th_state_of_the_long_run():
    """``thin=4`` draws the same proposals and uniforms as a run four times longer
    (one call each), so its states are exactly that run's 4th, 8th, ... states; the
    acceptance rate counts every step."""
    long = sample_independence(_gauss, _value(_gauss), np.zeros(3), draws=400, tune=50,
                               chains=3, seed=11)
    thinned = sample_independence(_gauss, _value(_gauss), np.zeros(3), draws=100, tune=50,
                                  chains=3, seed=11, thin=4)
    assert thinned.chains.x.shape == (3, 100, 3)
    np.testing.assert_array_equal(thinned.chains.x, long.chains.x[:, 3::4])
    np.testing.assert_array_equal(thinned.chains.lp, long.chains.lp[:, 3::4])
    blocks = long.chains.accepted.reshape(3, 100, 4)
    np.testing.assert_array_equal(thinned.chains.accepted, blocks.any(axis=2))
    assert thinned.acceptance_rate == long.acceptance_rate == long.chains.accepted.mean()


@pytest.mark.parametrize(("k", "low", "high"), [(0.3, 0.15, 0.45), (0.8, 0.65, 0.95)])
def test_pareto_k_recovers_the_tail_index_of_importance_weights(k, low, high) -> None:
    """Weights drawn from a generalised Pareto with shape k (4,000 of them, as a
    4 x 1,000 run): k-hat lands within the stated band (its SE is ~0.05 at n = 4,000);
    log weights shifted by a constant (an unnormalised density) give the same k-hat,
    and weights that are all equal, or all but one infinite, are handled."""
    from hierlmm.inference.independence import pareto_k

    log_w = np.log(stats.genpareto(k).rvs(4000, random_state=np.random.default_rng(5)))
    assert low < pareto_k(log_w) < high
    assert pareto_k(log_w + 1e3) == pytest.approx(pareto_k(log_w), abs=1e-9)
    assert pareto_k(np.array([0.0, -np.inf, -np.inf])) == np.inf


def test_a_gaussian_run_reports_a_small_pareto_k():
    run = _run(_gauss, 3)
    assert run.pareto_k < 0.5


def test_pareto_k_of_too_few_weights_is_nan():
    from hierlmm.inference.independence import PARETO_MIN_DRAWS, pareto_k

    assert np.isnan(pareto_k(np.zeros(PARETO_MIN_DRAWS - 1)))
    assert np.isfinite(pareto_k(np.random.default_rng(1).normal(size=100)))
