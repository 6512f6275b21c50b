"""The paper's experiments: a resumable plan of training runs and its aggregated results.

>>> from gifemo.experiments import ReproduceConfig, plan_runs, run_plan   # doctest: +SKIP
>>> config = ReproduceConfig(data="data/synth", out="results", seeds=(0, 1, 2),
...                          training={"size": 64, "epochs": 10})
>>> [run.name for run in plan_runs(config)][:2]                          # doctest: +SKIP
['resnet_convgru-T4-s0', 'vgg_convgru-T4-s0']
>>> run_plan(config)  # trains what is not finished, writes results/results.md  # doctest: +SKIP

Modules: ``paper`` (the paper's reported numbers and protocol), ``layout`` (the experiments'
names and the results directory's files), ``reproduce`` (the plan, its runs' state on disk,
running it), then the aggregation: ``collect`` (read the finished runs), ``summary`` (mean ±
t-interval over seeds), ``tables``, ``plots``, ``markdown`` and ``results`` (write them all).
See docs/reproduce.md.
"""

from __future__ import annotations

from gifemo.experiments.collect import collect_runs
from gifemo.experiments.layout import EXPERIMENTS
from gifemo.experiments.reproduce import (
    PlannedRun,
    PlanOutcome,
    ReproduceConfig,
    RunState,
    describe_plan,
    plan_runs,
    run_plan,
    run_state,
)
from gifemo.experiments.results import write_results
from gifemo.experiments.summary import summarize

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
