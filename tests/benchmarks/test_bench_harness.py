"""The benchmark harness (benchmarks/*.py): status classification, limits, metrics, targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_jobs  # noqa: E402
import bench_targets  # noqa: E402
import peers  # noqa: E402
from bench_config import QUICK  # noqa: E402
from bench_table import align, fmt, job_table  # noqa: E402


def _job(peer, dataset, **kw):
    base = {"peer": peer, "dataset": dataset, "status": "ok", "e2e_s": 10.0,
            "sample_s": 5.0, "ess_per_s": 100.0, "ess_per_s_sampling": 200.0,
            "min_ess_fixed": 1000.0, "min_ess_all": 800.0, "divergences": 0,
            "peak_rss_mb": 500.0, "estimates": {}}
    return {**base, **kw}


# --- child-side helpers -------------------------------------------------------------------

def test_derived_metrics_divides_fixed_effect_min_ess_by_times():
    ess = {"Intercept": 900.0, "x": 1200.0, "sd(x|g)": 300.0, "sigma": float("nan")}
    out = peers.derived_metrics(ess, e2e_s=3.0, sample_s=0.5)
    assert out == {"min_ess_fixed": 900.0, "min_ess_all": 300.0,
                   "ess_per_s": 300.0, "ess_per_s_sampling": 1800.0}


def test_derived_metrics_without_ess_or_sampling_time():
    assert peers.derived_metrics({}, e2e_s=2.0, sample_s=None) == {
        "min_ess_fixed": None, "min_ess_all": None, "ess_per_s": None,
        "ess_per_s_sampling": None}
    out = peers.derived_metrics({"Intercept": 50.0, "x": 80.0}, e2e_s=5.0, sample_s=None)
    assert out["ess_per_s"] == 10.0 and out["ess_per_s_sampling"] is None


def test_error_status_finds_memory_errors_in_the_chain():
    try:
        try:
            raise MemoryError("no room")
        except MemoryError as inner:
            raise RuntimeError("sampler failed") from inner
    except RuntimeError as exc:
        assert peers.error_status(exc) == "out of memory"
    assert peers.error_status(ValueError("Unable to allocate 8.0 GiB")) == "out of memory"
    assert peers.error_status(ValueError("bad x\nsecond line")) == "error: ValueError: bad x"
    assert peers.error_status(KeyError()) == "error: KeyError"


def test_bulk_ess_is_nan_for_constant_draws_and_near_n_for_iid_draws():
    assert np.isnan(peers.bulk_ess(np.ones((2, 50))))
    draws = np.random.default_rng(3).standard_normal((4, 1000))
    assert 3000 < peers.bulk_ess(draws) < 5000


# --- parent-side job control --------------------------------------------------------------

@pytest.mark.parametrize(
    ("returncode", "log", "timed_out", "expected"),
    [
        (-9, "", True, "timed out"),
        (-9, "", False, "out of memory"),
        (-6, "memory allocation of 8 bytes failed", False, "out of memory"),
        (1, "Traceback\nMemoryError: Unable to allocate 3 GiB", False, "out of memory"),
        (1, "Traceback\nValueError: bad thing\n\n", False,
         "error: exit code 1: ValueError: bad thing"),
        (2, "", False, "error: exit code 2: no output"),
    ],
)
def test_classify_failure(returncode, log, timed_out, expected):
    assert bench_jobs.classify_failure(returncode, log, timed_out) == expected


def test_memory_limiter_makes_large_allocations_fail():
    proc = subprocess.run(
        [sys.executable, "-c", "b = bytearray(3 * 1024**3)"],
        preexec_fn=bench_jobs.memory_limiter(1.0), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "MemoryError" in proc.stderr


def _fake_child(monkeypatch, code: str) -> None:
    monkeypatch.setattr(bench_jobs, "child_command",
                        lambda peer, dataset, settings, out: [sys.executable, "-c", code, str(out)])


def test_run_job_kills_a_child_at_the_timeout(monkeypatch, tmp_path):
    _fake_child(monkeypatch, "import time; time.sleep(60)")
    settings = QUICK.__class__(draws=1, tune=1, chains=1, timeout_s=1.0, mem_gb=4.0)
    job = bench_jobs.run_job("bambi", "sleepstudy", settings, tmp_path)
    assert job["status"] == "timed out"
    assert job["returncode"] == -9
    assert 1.0 <= job["job_wall_s"] < 10.0
    assert job["peak_rss_source"] == "polled"


def test_run_job_reads_the_child_record_or_classifies_its_exit(monkeypatch, tmp_path):
    settings = QUICK.__class__(draws=1, tune=1, chains=1, timeout_s=30.0, mem_gb=4.0)
    _fake_child(monkeypatch, "import json, sys; open(sys.argv[1], 'w').write(json.dumps("
                "{'peer': 'bambi', 'dataset': 'sim200', 'status': 'ok', 'e2e_s': 1.5}))")
    job = bench_jobs.run_job("bambi", "sim200", settings, tmp_path)
    assert (job["status"], job["e2e_s"], job["returncode"]) == ("ok", 1.5, 0)
    assert "log_tail" not in job
    _fake_child(monkeypatch, "raise MemoryError('boom')")
    job = bench_jobs.run_job("bambi", "sim200", settings, tmp_path)
    assert job["status"] == "out of memory"
    assert "MemoryError: boom" in job["log_tail"]


# --- tables and targets -------------------------------------------------------------------

def test_fmt_and_align():
    assert [fmt(None), fmt(float("nan")), fmt(3), fmt(12345.6), fmt(2.345, 1)] == [
        "-", "-", "3", "12,346", "2.3"]
    text = align(("peer", "e2e s"), [["bambi", "1.0"], ["statsmodels", "12.5"]])
    assert text.splitlines() == ["peer         e2e s", "-----------  -----",
                                 "bambi          1.0", "statsmodels   12.5"]


def test_job_table_has_one_row_per_job_and_dashes_for_missing_values():
    jobs = [_job("bambi", "sim1k", estimates={"sigma": 1.0123}),
            {"peer": "statsmodels", "dataset": "sim1k", "status": "timed out"}]
    lines = job_table(jobs).splitlines()
    assert len(lines) == 4
    assert "1.012" in lines[2]
    assert lines[3].split()[:4] == ["statsmodels", "sim1k", "timed", "out"]


def test_ess_rate_target_ratio_and_time_condition():
    jobs = [_job("hierlmm-collapsed", "sleepstudy", ess_per_s=300.0, ess_per_s_sampling=400.0,
                 e2e_s=4.0),
            _job("bambi", "sleepstudy", ess_per_s=100.0, ess_per_s_sampling=800.0, e2e_s=5.0)]
    row = bench_targets.ess_rate_target(jobs, "sleepstudy", 2.0, faster_too=True)
    assert row["met"] is True
    assert row["value"] == "3.00x (sampling-only 0.50x); e2e 4.0 s vs 5.0 s"
    jobs[0]["e2e_s"] = 6.0
    assert bench_targets.ess_rate_target(jobs, "sleepstudy", 2.0, faster_too=True)["met"] is False
    row = bench_targets.ess_rate_target(jobs, "sim1k", 10.0, faster_too=False)
    assert row == {"target": "sim1k: ESS/s hierlmm-collapsed / bambi >= 10",
                   "value": "hierlmm-collapsed not run on sim1k", "met": None}


def test_statsmodels_target_uses_a_lower_bound_when_it_timed_out():
    ours = _job("hierlmm-collapsed", "sim10k", e2e_s=100.0)
    done = [ours, _job("statsmodels", "sim10k", e2e_s=150.0)]
    row = bench_targets.time_vs_statsmodels_target(done, "sim10k", 0.5, timeout_s=600.0)
    assert (row["met"], row["value"]) == (False, "100.0 s vs 150.0 s -> 0.67x")
    slow = [ours, {"peer": "statsmodels", "dataset": "sim10k", "status": "timed out"}]
    row = bench_targets.time_vs_statsmodels_target(slow, "sim10k", 0.5, timeout_s=600.0)
    assert row["met"] is True and "> 540 s (timed out)" in row["value"]


def test_scale_divergence_and_ess_targets():
    jobs = [_job("hierlmm-collapsed", "sim100k", e2e_s=59.0, peak_rss_mb=4200.0),
            _job("hierlmm-collapsed", "sim10k", min_ess_fixed=999.0, divergences=2)]
    time_row, mem_row = bench_targets.scale_target(jobs, "sim100k", 60.0, 4096.0)
    assert (time_row["met"], mem_row["met"], mem_row["value"]) == (True, False, "4200 MiB")
    assert bench_targets.min_ess_target(jobs, "sim10k", 1000.0)["met"] is False
    row = bench_targets.divergence_target(jobs)
    assert (row["met"], row["value"]) == (False, "sim100k 0, sim10k 2")
    clean = [jobs[0], {"peer": "hierlmm-collapsed", "dataset": "sim1k", "status": "timed out"}]
    assert bench_targets.divergence_target(clean)["met"] is None
    assert len(bench_targets.evaluate_targets(jobs, 600.0)) == 9


def test_single_fit_target_needs_half_the_time_and_four_times_the_ess_rate():
    bambi = _job("bambi", "sleepstudy", e2e_s=8.0, ess_per_s=100.0)
    fast = [_job("hierlmm-collapsed", "sleepstudy", e2e_s=3.0, ess_per_s=450.0), bambi]
    row = bench_targets.single_fit_target(fast, "sleepstudy", 0.5, 4.0)
    assert row["met"] is True
    assert row["value"] == "time 0.38x (3.0 s vs 8.0 s), ESS/s 4.50x"
    slow = [_job("hierlmm-collapsed", "sleepstudy", e2e_s=4.5, ess_per_s=450.0), bambi]
    assert bench_targets.single_fit_target(slow, "sleepstudy", 0.5, 4.0)["met"] is False


def test_ar_target_needs_time_and_min_ess_of_every_parameter():
    jobs = [_job("hierlmm-collapsed", "ar1k", e2e_s=25.0, min_ess_all=1200.0),
            _job("hierlmm-sampled", "ar1k", e2e_s=90.0, min_ess_all=700.0, peak_rss_mb=900.0)]
    row = bench_targets.ar_target(jobs, "ar1k", 30.0, 1000.0)
    assert row["met"] is True
    assert row["value"] == ("25.0 s, min ESS 1200, peak 500 MiB; sampled 90.0 s, min ESS 700,"
                            " peak 900 MiB")
    jobs[0]["min_ess_all"] = 900.0
    assert bench_targets.ar_target(jobs, "ar1k", 30.0, 1000.0)["met"] is False
    assert bench_targets.ar_target(jobs[1:], "ar1k", 30.0, 1000.0)["met"] is None

