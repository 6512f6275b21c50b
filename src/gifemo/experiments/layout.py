"""What ``gifemo reproduce`` can run, and where its results directory keeps everything::

    RESULTS/reproduce.yaml         the plan's settings (PLAN_FILE)
    RESULTS/runs/<run>/            a run directory per planned run (RUNS_DIR; training.run_dir)
    RESULTS/runs/<run>/evaluations/ood-<data name>/   its out-of-domain report (ood_report_dir)
    RESULTS/errors/<run>.txt       the traceback of a failed run (ERRORS_DIR)
    RESULTS/results.md             the tables (RESULTS_MD), beside their CSVs and plots

The plan (:mod:`gifemo.experiments.reproduce`) writes these and the aggregation
(:mod:`gifemo.experiments.results`) reads them; both take the names from here.
"""

from __future__ import annotations

from pathlib import Path

from gifemo.training.run_dir import RunDir

#: What ``reproduce`` can produce; ``fig5`` needs no training.
EXPERIMENTS: tuple[str, ...] = ("table2", "table3", "table4", "ablation", "fig5")

RUNS_DIR = "runs"
ERRORS_DIR = "errors"
PLAN_FILE = "reproduce.yaml"
RESULTS_MD = "results.md"
#: Prefix of the out-of-domain report's name among a run's evaluations (``ood-<data name>``).
OOD_PREFIX = "ood-"


def ood_report_dir(run_dir: str | Path, ood_name: str) -> Path:
    """Where the out-of-domain report of a run on the dataset named ``ood_name`` goes."""
    return RunDir(run_dir).evaluation_dir(f"{OOD_PREFIX}{ood_name}")
