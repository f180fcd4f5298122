"""Several threads evaluating side by side (hierlmm.engines.threads) and the GIL-free
kernels they run: same bits on any number of threads, errors raised in the caller."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numba
import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp

from hierlmm.engines import threads
from hierlmm.engines.collapsed.dense_cholesky import (
    cho_solve_lower,
    cholesky_lower,
    solve_lower_t,
)
from hierlmm.engines.collapsed.sparse_gram import gram_trace, schur_cholesky


def test_every_index_once_each_handler_on_its_own_thread():
    seen: dict[int, str] = {}
    names = []

    def handler(tag):
        def run(i):
            assert threads.in_worker()
            names.append(threading.current_thread().name)
            seen[i] = tag
            time.sleep(0.002)  # a GIL-free wait: the other thread takes its turns
        return run

    threads.for_each_index(50, [handler("a"), handler("b")])
    assert sorted(seen) == list(range(50))
    assert threading.main_thread().name in names  # the caller's thread works too
    assert not threads.in_worker()  # reset afterwards


def test_one_handler_is_a_plain_loop_in_the_caller():
    order = []
    threads.for_each_index(4, [lambda i: order.append((i, threads.in_worker()))])
    assert order == [(0, False), (1, False), (2, False), (3, False)]


@pytest.mark.parametrize("failing", [0, 1])
def test_an_error_in_any_thread_stops_the_rest_and_is_raised(failing):
    done = []

    def handler(w):
        calls = []

        def run(i):
            calls.append(i)
            time.sleep(0.002)
            if w == failing and len(calls) == 2:
                raise ValueError(f"item {i}")
            done.append(i)
        return run

    with pytest.raises(ValueError, match="item"):
        threads.for_each_index(1_000, [handler(0), handler(1)])
    assert len(done) < 10  # the other thread stopped after its current item


def _sparse_problem(seed=0, n1=300, m=80):
    rng = np.random.default_rng(seed)
    G12 = sp.random_array((n1, m), density=0.1, rng=rng, format="csr")
    G12.sum_duplicates()
    G12.sort_indices()
    dense = G12.toarray()
    G22 = dense.T @ dense + np.diag(rng.uniform(1, 2, m))
    w = rng.uniform(0.0, 0.5, n1)
    lam = rng.uniform(0.5, 1.5, m)
    S = lam[:, None] * (G22 - dense.T @ (w[:, None] * dense)) * lam[None, :] + np.eye(m)
    return G12, sp.csc_array(G12), G22, w, lam, S


def test_schur_cholesky_is_the_dense_factor_and_the_same_bits_in_a_worker():
    G12, csc, G22, w, lam, S = _sparse_problem()
    main = schur_cholesky(G12, csc, sp.csr_array(sp.triu(sp.coo_array(G22))), w, lam)
    np.testing.assert_allclose(main, np.linalg.cholesky(S), rtol=1e-12, atol=1e-12)
    out = [None, None]

    def run(i):
        out[i] = schur_cholesky(G12, csc, sp.csr_array(sp.triu(sp.coo_array(G22))), w, lam)

    threads.for_each_index(2, [run, run])  # the serial twins
    for got in out:
        np.testing.assert_array_equal(got, main)


def test_gram_trace_is_the_dense_trace_and_the_same_bits_in_a_worker():
    G12, csc, _, w, lam, _ = _sparse_problem(1)
    rng = np.random.default_rng(3)
    A = rng.normal(size=(lam.size, lam.size))
    V = A + A.T
    M = w[:, None] * G12.toarray() * lam[None, :]
    want = np.trace(V @ M.T @ M)
    main = gram_trace(G12, csc, w, lam, np.triu(V))  # read on the upper triangle only
    assert main == pytest.approx(want, rel=1e-12)
    out = [None, None]

    def run(i):
        out[i] = gram_trace(G12, csc, w, lam, np.triu(V))

    threads.for_each_index(2, [run, run])
    assert out == [main, main]


@pytest.mark.parametrize("m", [60, 64, 203])  # one block, exactly one, three and a part
def test_dense_cholesky_and_solves_match_lapack(m):
    rng = np.random.default_rng(2)
    M = rng.normal(size=(m, m))
    S = M @ M.T + m * np.eye(m)
    upper_garbage = S + np.triu(rng.normal(size=S.shape), 1)  # only the lower half is read
    L = cholesky_lower(upper_garbage)
    np.testing.assert_allclose(L, np.linalg.cholesky(S), rtol=1e-12, atol=1e-12)
    for b in (rng.normal(size=m), rng.normal(size=(m, 3))):
        np.testing.assert_allclose(cho_solve_lower(L, b), np.linalg.solve(S, b), rtol=1e-10)
        np.testing.assert_allclose(solve_lower_t(L, b),
                                   sla.solve_triangular(L, b, lower=True, trans="T"),
                                   rtol=1e-10)
    with pytest.raises(np.linalg.LinAlgError, match="leading minor 1\\)"):
        cholesky_lower(-S)
    late = S.copy()
    late[m - 3, m - 3] = -1.0  # fails in the last block, at its own leading minor
    with pytest.raises(np.linalg.LinAlgError, match=f"leading minor {m - 2}\\)"):
        cholesky_lower(late)


def test_limited_threads_lowers_the_count_for_its_block_and_restores_it():
    before = threads.evaluation_threads()
    with threads.limited_threads(1):
        assert threads.evaluation_threads() == 1
        assert threads.in_worker()  # one thread: numba's serial twins
    with threads.limited_threads(10_000):  # never more than numba has
        assert threads.evaluation_threads() == numba.config.NUMBA_NUM_THREADS
        assert not threads.in_worker()
    assert threads.evaluation_threads() == before and not threads.in_worker()


def test_fit_many_workers_share_the_cores():
    """Local worker processes get the cores shared out (no oversubscription: each
    all-factor fit would otherwise evaluate on every core); a Dask task gets one."""
    from hierlmm.many import executors

    cores = executors.default_workers()
    assert [executors.worker_threads(w) for w in (1, cores, 4 * cores)] == [cores, 1, 1]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context,
                             initializer=threads.share_threads, initargs=(1,)) as pool:
        assert pool.submit(threads.evaluation_threads).result() == 1
