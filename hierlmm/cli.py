"""Command-line interface: ``hierlmm fit MODEL.toml --out DIR`` and ``hierlmm summary FILE``.

``hierlmm fit`` reads a TOML model file (see ``docs/model-files.md``), loads its data,
fits the model, writes ``DIR/summary.json``, ``DIR/posterior.nc`` and the HTML report
``DIR/report.html`` (figures in ``DIR/figures/``; skipped with ``--no-report``) and prints
a summary table. ``hierlmm summary`` reloads a saved ``posterior.nc`` and prints the same
table. Any hierlmm error ends the command with exit status 1 and one line on stderr,
``hierlmm: error: ...``; convergence warnings are printed as ``hierlmm: warning: ...``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from hierlmm._version import __version__
from hierlmm.errors import ConvergenceWarning, FitError, HierlmmError
from hierlmm.options import Engine, Sampler, allowed

SUMMARY_JSON = "summary.json"
POSTERIOR_NC = "posterior.nc"
EXIT_ERROR = 1
_TIMING_LABELS = (("build_s", "build"), ("compile_s", "compile"), ("sample_s", "sample"),
                  ("recover_s", "recover"), ("total_s", "total"))


# ------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The ``hierlmm`` argument parser with its ``fit`` and ``summary`` subcommands."""
    parser = argparse.ArgumentParser(
        prog="hierlmm",
        description="Bayesian linear mixed-effects models from TOML model files.",
        epilog="Model file format: docs/model-files.md. Example: "
        "hierlmm fit models/sleepstudy.toml --out out/sleepstudy",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_fit_arguments(commands.add_parser(
        "fit",
        help="fit the model of a TOML model file",
        description="Fit the model described by a TOML model file, write DIR/summary.json, "
        "DIR/posterior.nc and DIR/report.html, and print a summary. The file has the "
        "sections [data] and [model], and optionally [priors], [residual] (kind = "
        '"iid" | "ar1" | "car1", time = column, group = series column, gaps = "error" | '
        '"order"; default iid: AR(1)/CAR(1) residuals are fitted from the model file alone) '
        "and [fit] (see docs/model-files.md). Options given here override the file's [fit] "
        "section.",
        epilog="Outputs: DIR/summary.json (estimates, diagnostics, timings), "
        "DIR/posterior.nc (the whole fit; reprint it with 'hierlmm summary' or reload it in "
        "Python with hierlmm.load) and DIR/report.html (a self-contained HTML report; its "
        "figures also as DIR/figures/*.png). Exit status: 0 success, 1 error (one line on "
        "stderr), 2 usage error.",
    ))
    summary = commands.add_parser(
        "summary",
        help="print the summary of a saved fit (posterior.nc)",
        description="Reload a fit saved by 'hierlmm fit' (DIR/posterior.nc) and print its "
        "parameter summary.",
    )
    summary.add_argument("path", metavar="POSTERIOR.nc", type=Path, help="saved fit file")
    _add_fit_many_arguments(commands.add_parser(
        "fit-many",
        help="fit the model of a TOML model file to many outcomes",
        description="Fit the model of a TOML model file to every outcome (its response "
        "is a placeholder), compiled once per worker process. Writes DIR/parameters.parquet, "
        "DIR/outcomes.parquet, DIR/variance_partition.parquet, DIR/effects.parquet, "
        "DIR/summary.json and DIR/report.html; finished chunks go to DIR/store.zarr.",
    ))
    return parser


def _add_fit_many_arguments(many: argparse.ArgumentParser) -> None:
    """The options of ``hierlmm fit-many``."""
    many.add_argument("model_file", metavar="MODEL.toml", type=Path, help="TOML model file")
    many.add_argument("--outcomes", required=True, metavar="FILE_OR_COLUMNS",
                      help="a .csv/.tsv/.parquet table (one column per outcome, rows as the "
                      "data) or comma-separated column names of the data")
    many.add_argument("--out", required=True, type=_out_dir, metavar="DIR",
                      help="output folder (created if needed)")
    many.add_argument("--workers", type=int, metavar="N",
                      help="local worker processes (default one per core; 0: in this process)")
    many.add_argument("--scheduler", metavar="ADDRESS",
                      help="Dask scheduler address, e.g. tcp://10.0.0.1:8786")
    many.add_argument("--resume", action="store_true",
                      help="keep DIR/store.zarr and skip the outcomes it already holds")
    for name in ("draws", "tune", "chains", "seed"):
        many.add_argument(f"--{name}", type=int, metavar="N")
    many.add_argument("--engine", metavar="NAME",
                      help=f"likelihood engine: {', '.join(allowed(Engine))}")
    many.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    many.set_defaults(sampler=None)  # always nutpie


def _out_dir(value: str) -> Path:
    """``--out``: a non-empty folder path (``""`` would silently mean the working folder)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must name a folder, not an empty string")
    return Path(value).expanduser()


def _add_fit_arguments(fit: argparse.ArgumentParser) -> None:
    """The options of ``hierlmm fit``."""
    fit.add_argument("model_file", metavar="MODEL.toml", type=Path, help="TOML model file")
    fit.add_argument("--out", required=True, type=_out_dir, metavar="DIR",
                     help="output folder (created if needed)")
    fit.add_argument("--draws", type=int, metavar="N", help="posterior draws per chain")
    fit.add_argument("--tune", type=int, metavar="N", help="warm-up (tuning) steps per chain")
    fit.add_argument("--chains", type=int, metavar="N", help="number of chains")
    fit.add_argument("--seed", type=int, metavar="S", help="random seed (non-negative integer)")
    fit.add_argument("--sampler", metavar="NAME",
                     help=f"NUTS backend: {', '.join(allowed(Sampler))}")
    fit.add_argument("--engine", metavar="NAME",
                     help=f"likelihood engine: {', '.join(allowed(Engine))} (auto integrates "
                     "Gaussian random effects out analytically)")
    fit.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    fit.add_argument("--no-report", action="store_true",
                     help="do not write DIR/report.html and DIR/figures/")


# ---------------------------------------------------------------------------- printing
def format_header(fit) -> str:
    """Two lines: formula, n and groups; then the timings in seconds."""
    from hierlmm.inference.display import groups_text

    dropped = f", {fit.design.n_dropped} dropped" if fit.design.n_dropped else ""
    first = f"{fit.spec.formula}   n = {fit.design.n}{dropped}; groups: {groups_text(fit.design)}"
    times = ", ".join(
        f"{label} {fit.timings[key]:.2f}s" for key, label in _TIMING_LABELS if key in fit.timings
    )
    second = f"engine {fit.engine}, sampler {fit.sampler}, seed {fit.seed}; time: {times}"
    return f"{first}\n{second}"


def format_table(fit, prob: float = 0.9) -> str:
    """Aligned table: parameter, mean, sd, central ``prob`` interval, rhat, ess_bulk."""
    return fit.summary(prob=prob).to_text()


def print_summary(fit, stream: TextIO) -> None:
    """Header lines, a blank line and the parameter table."""
    print(format_header(fit), file=stream)
    print(file=stream)
    print(format_table(fit), file=stream)


def report_warnings(caught: list[warnings.WarningMessage], stream: TextIO) -> None:
    """Print convergence warnings as one readable line each; re-show any other warning."""
    for item in caught:
        if issubclass(item.category, ConvergenceWarning):
            text = " ".join(str(item.message).split())
            print(f"hierlmm: warning: {text}", file=stream)
        else:
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)


# ---------------------------------------------------------------------------- commands
def _fit_options(args: argparse.Namespace, defaults):
    """The model file's FitOptions with the command-line overrides applied (re-checked)."""
    overrides = {
        name: getattr(args, name)
        for name in ("draws", "tune", "chains", "seed", "sampler", "engine")
        if getattr(args, name) is not None
    }
    if args.no_progress:
        overrides["progress"] = False
    return replace(defaults, **overrides)


def _prepare_out_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FitError(f"cannot create the output folder {out}: {exc.strerror or exc}") from exc
    return out


def run_fit(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``hierlmm fit``: model file -> fit -> summary.json, posterior.nc, printed summary."""
    import hierlmm
    from hierlmm.datasets import read_source
    from hierlmm.inference.io import save_fit
    from hierlmm.inference.outputs import RUN_KEY, Staging, new_run_id
    from hierlmm.report.json_summary import write_summary_json
    from hierlmm.spec.load import load_model_file

    model_file = load_model_file(args.model_file)
    options = _fit_options(args, model_file.fit)
    data = read_source(model_file.resolved_source(), model_file.base_dir)
    out = _prepare_out_dir(args.out)  # before sampling, so a bad --out fails fast
    run_id = new_run_id()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = hierlmm.fit(
            model_file.spec, data, draws=options.draws, tune=options.tune,
            chains=options.chains, seed=options.seed, sampler=options.sampler,
            engine=options.engine, progress=options.progress,
            na_action=model_file.na_action, target_accept=options.target_accept,
            units=model_file.units,
        )
    with Staging(out, run_id) as staging:  # removes its temporary files unless published
        try:
            write_summary_json(fit, staging.path(SUMMARY_JSON),
                               extra={RUN_KEY: lambda fit, table: {"id": run_id}})
        except OSError as exc:
            raise FitError(f"cannot write {out / SUMMARY_JSON}: {exc.strerror or exc}") from exc
        save_fit(fit, staging.path(POSTERIOR_NC), run_id=run_id)
        if not args.no_report:
            from hierlmm.document.html import write_report

            scratch = staging.folder_path("report")
            page = write_report(fit, scratch)
            staging.adopt(scratch / "figures", "figures")
            staging.adopt(page, page.name)
        written = staging.publish()
        if not args.no_report:
            written = [p for p in written if p.name != "figures"]
    print_summary(fit, stdout)
    report_warnings(caught, stderr)
    print(f"\nwrote {', '.join(map(str, written[:-1]))} and {written[-1]}", file=stdout)
    return 0


def run_summary(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``hierlmm summary``: reload a saved fit and print its summary."""
    from hierlmm.inference.io import load_fit, saved_run_id
    from hierlmm.inference.outputs import check_pair

    fit = load_fit(args.path)
    check_pair(saved_run_id(args.path), args.path.parent / SUMMARY_JSON)
    print_summary(fit, stdout)
    return 0


def run_fit_many(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``hierlmm fit-many``: model file + outcomes -> tables, summary.json, report.html."""
    import shutil

    import hierlmm
    from hierlmm.datasets import read_source
    from hierlmm.many.outcomes import read_outcomes
    from hierlmm.many.outputs import write_outputs
    from hierlmm.spec.load import load_model_file

    model_file = load_model_file(args.model_file)
    options = _fit_options(args, model_file.fit)
    data = read_source(model_file.resolved_source(), model_file.base_dir)
    outcomes = read_outcomes(args.outcomes, model_file.base_dir)
    out = _prepare_out_dir(args.out)
    store = out / "store.zarr"
    if store.exists() and not args.resume:
        shutil.rmtree(store)
    many = hierlmm.fit_many(
        model_file.spec, data, outcomes, draws=options.draws, tune=options.tune,
        chains=options.chains, seed=options.seed, engine=options.engine,
        executor=args.scheduler or ("serial" if args.workers == 0 else None),
        workers=args.workers or None, progress=options.progress,
        store=store, target_accept=options.target_accept,
    )
    written = write_outputs(many, out)
    print(repr(many), file=stdout)
    failed = many.outcomes[many.outcomes["status"] != "ok"]
    for name, error in failed["error"].head(10).items():
        print(f"hierlmm: warning: outcome {name} failed: {error}", file=stderr)
    print(f"wrote {', '.join(str(p) for p in written)}", file=stdout)
    return 0


_COMMANDS = {"fit": run_fit, "summary": run_summary, "fit-many": run_fit_many}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 hierlmm error, 2 usage).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    try:
        return _COMMANDS[args.command](args, sys.stdout, sys.stderr)
    except HierlmmError as exc:
        message = " ".join(str(exc).split())
        print(f"hierlmm: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hierlmm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
