"""The paper's experiments: a resumable plan of training runs and its aggregated results.

>>> from gifemo.experiments import ReproduceConfig, plan_runs, run_plan   # doctest: +SKIP
>>> config = ReproduceConfig(data="data/synth", out="results", seeds=(0, 1, 2),
...                          training={"size": 64, "epochs": 10})
>>> [run.name for run in plan_runs(config)][:2]                          # doctest: +SKIP
['resnet_convgru-T4-s0', 'vgg_convgru-T4-s0']
>>> run_plan(config)          # trains what is not finished, writes results/results.md  # doctest: +SKIP

Modules: ``paper`` (the paper's reported numbers and protocol), ``reproduce`` (the plan, its
runs' state on disk, running it), ``results`` (tables, CSVs, plots, results.md). See
docs/reproduce.md.
"""

from __future__ import annotations

from gifemo.experiments.reproduce import (
    EXPERIMENTS,
    PlannedRun,
    PlanOutcome,
    ReproduceConfig,
    RunState,
    describe_plan,
    plan_runs,
    run_plan,
    run_state,
)
from gifemo.experiments.results import collect_runs, summarize, write_results

__all__ = [
    "EXPERIMENTS",
    "PlanOutcome",
    "PlannedRun",
    "ReproduceConfig",
    "RunState",
    "collect_runs",
    "describe_plan",
    "plan_runs",
    "run_plan",
    "run_state",
    "summarize",
    "write_results",
]
