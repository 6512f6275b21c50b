"""The paper's experiments as a plan of training runs that can be stopped and resumed.

A run is one ``(model, clip_len, seed)``; it trains into
``RESULTS/runs/<model>-T<clip_len>-s<seed>`` with :func:`gifemo.evaluation.train_and_evaluate`,
which evaluates it on its test split at the end (``report.json``). The experiments share runs:
ResNet-ConvGRU with 4-frame clips feeds Table 2, Table 3, Table 4 and the clip-length ablation,
and is trained once per seed.

Re-running the same plan continues it: a run with a ``report.json`` is finished and skipped; a run
with a ``config.yaml`` but no report was interrupted and is resumed from its last epoch
checkpoint. A finished run asked for more epochs than it has is extended. Settings that would
change what a run computes (size, lr, ...) are refused for an existing run, naming the conflict.

With ``devices > 1`` Lightning re-runs the calling command once per extra rank; every rank reads
the plan's state once, at the start, so that they all walk the same list of runs.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gifemo.atomic import atomic_write_text
from gifemo.experiments.layout import ERRORS_DIR, EXPERIMENTS, PLAN_FILE, RUNS_DIR, ood_report_dir
from gifemo.experiments.paper import (
    ABLATION_CLIP_LENS,
    MAIN_MODEL,
    PAPER_CLIP_LEN,
    PAPER_MODELS,
    TABLE3_MODELS,
)
from gifemo.experiments.results import write_results
from gifemo.formatting import format_duration
from gifemo.training.run_dir import CONFIG_FILE, RunDir, read_report, run_history

log = logging.getLogger(__name__)

#: TrainConfig fields that a plan sets per run; every other field is a shared training setting.
PER_RUN_FIELDS: frozenset[str] = frozenset({"data", "model", "model_kwargs", "clip_len", "seed"})


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the plan and the experiments that use it."""

    model: str
    clip_len: int
    seed: int
    experiments: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.model}-T{self.clip_len}-s{self.seed}"


@dataclass
class ReproduceConfig:
    """What to reproduce and how to train.

    ``training`` holds :class:`~gifemo.training.config.TrainConfig` fields shared by every run
    (``size``, ``epochs``, ``batch_size``, ``lr``, ``precision``, ``max_clips_per_gif``,
    ``workers``, ``devices``, ``accelerator``...); unset fields keep TrainConfig's defaults, the
    paper's Table 1. ``model_kwargs`` maps a model name to its builder arguments. With
    ``ood_data``, every finished run with the paper's clip length is also evaluated on all GIFs
    of that other dataset (out of domain).
    """

    data: str
    out: str
    models: tuple[str, ...] = PAPER_MODELS
    seeds: tuple[int, ...] = (0, 1, 2)
    clip_lens: tuple[int, ...] = ABLATION_CLIP_LENS
    experiments: tuple[str, ...] = EXPERIMENTS
    model_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    ood_data: str | None = None

    def __post_init__(self) -> None:
        from gifemo.models import list_models
        from gifemo.training.config import TrainConfig

        self.data = str(Path(self.data).expanduser().resolve())
        self.out = str(Path(self.out).expanduser().resolve())
        if self.ood_data is not None:
            self.ood_data = str(Path(self.ood_data).expanduser().resolve())
            if not Path(self.ood_data).exists():
                raise FileNotFoundError(f"{self.ood_data}: out-of-domain dataset not found")
        self.models = tuple(dict.fromkeys(self.models))
        self.seeds = tuple(dict.fromkeys(int(s) for s in self.seeds))
        self.clip_lens = tuple(dict.fromkeys(int(t) for t in self.clip_lens))
        self.experiments = tuple(dict.fromkeys(self.experiments))
        known = set(list_models())
        for name in (*self.models, *self.model_kwargs):
            if name not in known:
                raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(known))}")
        bad = [e for e in self.experiments if e not in EXPERIMENTS]
        if bad:
            raise ValueError(f"unknown experiment(s) {bad}; choose from {', '.join(EXPERIMENTS)}")
        for name, values in (
            ("models", self.models),
            ("seeds", self.seeds),
            ("experiments", self.experiments),
        ):
            if not values:
                raise ValueError(f"{name}: give at least one")
        if any(t < 1 for t in self.clip_lens):
            raise ValueError(f"clip lengths must be >= 1, got {list(self.clip_lens)}")
        unknown = sorted(set(self.training) - {f.name for f in dataclasses.fields(TrainConfig)})
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}")
        per_run = sorted(set(self.training) & PER_RUN_FIELDS)
        if per_run:
            raise ValueError(f"training setting(s) {per_run} are set per run by the plan")
        # Fail now, not after hours of training, on a setting TrainConfig refuses.
        self.train_config(PlannedRun(self.models[0], PAPER_CLIP_LEN, self.seeds[0], ()))

    @property
    def runs_dir(self) -> Path:
        return Path(self.out) / RUNS_DIR

    def run_dir(self, run: PlannedRun) -> Path:
        return self.runs_dir / run.name

    def error_file(self, run: PlannedRun) -> Path:
        """Where the traceback of a failed run goes (outside its run dir, which it may not have)."""
        return Path(self.out) / ERRORS_DIR / f"{run.name}.txt"

    def ood_dir(self, run: PlannedRun) -> Path | None:
        """Where the out-of-domain report of ``run`` goes (None without ``ood_data``)."""
        if self.ood_data is None:
            return None
        return ood_report_dir(self.run_dir(run), Path(self.ood_data).name)

    def train_config(self, run: PlannedRun):
        """The :class:`TrainConfig` of one run of the plan."""
        from gifemo.training.config import TrainConfig

        return TrainConfig(
            data=self.data,
            model=run.model,
            model_kwargs=dict(self.model_kwargs.get(run.model, {})),
            clip_len=run.clip_len,
            seed=run.seed,
            **self.training,
        )

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        for key in ("models", "seeds", "clip_lens", "experiments"):
            values[key] = list(values[key])
        return values

    def save(self) -> Path:
        """Write ``RESULTS/reproduce.yaml``: the command's settings, for the record."""
        path = Path(self.out) / PLAN_FILE
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def plan_runs(config: ReproduceConfig) -> list[PlannedRun]:
    """The runs the chosen experiments need, each once, seed by seed.

    Tables 2-4 use clips of the paper's 4 frames; the ablation uses ``config.clip_lens`` with
    ResNet-ConvGRU. A model left out of ``config.models`` is left out of every experiment. Within
    a seed the main model comes first, then the other models, then the other clip lengths, so
    that an interrupted plan already fills every table for its first seeds.
    """
    wanted: dict[tuple[str, int], list[str]] = {}

    def need(model: str, clip_len: int, experiment: str) -> None:
        if model in config.models and experiment in config.experiments:
            wanted.setdefault((model, clip_len), []).append(experiment)

    need(MAIN_MODEL, PAPER_CLIP_LEN, "table2")
    for model in TABLE3_MODELS:
        need(model, PAPER_CLIP_LEN, "table3")
    for model in config.models:
        need(model, PAPER_CLIP_LEN, "table4")
    for clip_len in config.clip_lens:
        need(MAIN_MODEL, clip_len, "ablation")

    def order(key: tuple[str, int]) -> tuple[bool, bool, int, int]:
        model, clip_len = key
        return (
            clip_len != PAPER_CLIP_LEN,
            model != MAIN_MODEL,
            config.models.index(model),
            clip_len,
        )

    keys = sorted(wanted, key=order)
    return [
        PlannedRun(model, clip_len, seed, tuple(wanted[(model, clip_len)]))
        for seed in config.seeds
        for model, clip_len in keys
    ]


# -- run state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunState:
    """What a run dir holds: ``"new"`` (nothing), ``"partial"`` (interrupted) or ``"done"``;
    ``action`` is what :func:`run_plan` does with it: ``"train"``, ``"resume"``, ``"extend"``
    (finished with fewer epochs than asked) or ``"skip"``."""

    run: PlannedRun
    run_dir: Path
    status: str
    action: str


def run_state(config: ReproduceConfig, run: PlannedRun) -> RunState:
    """The state of ``run`` on disk (see :func:`run_action`)."""
    run_dir = config.run_dir(run)
    status, action = run_action(run_dir, config.train_config(run))
    return RunState(run, run_dir, status, action)


def run_action(run_dir: str | Path, wanted) -> tuple[str, str]:
    """``(status, action)`` for training the :class:`TrainConfig` ``wanted`` into ``run_dir``.

    Raises ``ValueError`` if ``run_dir`` holds something else than a run, or a run trained with
    settings that differ from ``wanted`` (other than ``epochs`` and ``workers``), or a finished
    run with more epochs than ``wanted``.
    """
    from gifemo.training.run_dir import load_run_config

    run_dir = Path(run_dir)
    if not RunDir(run_dir).is_run:
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ValueError(f"{run_dir}: not a gifemo run (no {CONFIG_FILE}); move it away")
        return "new", "train"
    load_run_config(run_dir, wanted.to_dict())  # raises on a conflicting setting
    if not RunDir(run_dir).is_evaluated:
        return "partial", "resume"
    done_epochs = len(run_history(run_dir))
    if done_epochs > wanted.epochs:
        raise ValueError(
            f"{run_dir}: finished with {done_epochs} epochs, {wanted.epochs} asked; "
            "use another output directory to train shorter runs"
        )
    return ("done", "extend") if done_epochs < wanted.epochs else ("done", "skip")


# -- running the plan -----------------------------------------------------------------------


@dataclass
class PlanOutcome:
    """What :func:`run_plan` did: runs trained, skipped and failed, and the total time."""

    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    results: Path | None = None


def run_plan(
    config: ReproduceConfig,
    *,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    aggregate: bool = True,
    train_fn: Callable[..., Any] | None = None,
) -> PlanOutcome:
    """Train every run of the plan that is not finished, then write the results.

    A run that fails (an exception other than ``KeyboardInterrupt``) is reported and the plan
    goes on; its traceback is in ``RESULTS/errors/<run>.txt``. ``train_fn`` defaults to
    :func:`gifemo.evaluation.train_and_evaluate`. Returns the :class:`PlanOutcome`; ``results``
    is the path of ``results.md`` (``None`` on DDP ranks other than 0, which only train).
    """
    from gifemo.training.fit import launch_rank

    if train_fn is None:
        from gifemo.evaluation import train_and_evaluate as train_fn

    started = time.perf_counter()
    rank = launch_rank()
    runs = plan_runs(config)
    # Read once: the DDP ranks must all see the same states, whatever rank 0 writes meanwhile.
    states = [run_state(config, run) for run in runs]
    say = echo if rank == 0 else (lambda _message: None)
    if rank == 0:
        config.runs_dir.mkdir(parents=True, exist_ok=True)
        config.save()
    todo = sum(s.action != "skip" for s in states)
    say(
        f"{len(runs)} runs in the plan, {len(runs) - todo} finished, {todo} to train -> "
        f"{config.runs_dir}"
    )
    outcome = PlanOutcome()
    for index, state in enumerate(states, start=1):
        run = state.run
        head = f"[{index}/{len(runs)}] {run.name} ({', '.join(run.experiments)})"
        if state.action == "skip":
            say(f"{head}: finished earlier, {_accuracy_text(state.run_dir)}")
            outcome.skipped.append(run.name)
            continue
        train_config = config.train_config(run)
        say(
            f"{head}: {_action_text(state.action)} {train_config.epochs} epochs at "
            f"{train_config.size} px"
        )
        run_started = time.perf_counter()
        try:
            train_fn(train_config, state.run_dir, resume=state.action != "train", progress=progress)
        except KeyboardInterrupt:
            say(f"{head}: interrupted; run the same command again to resume")
            raise
        except Exception as error:  # a failed run must not cost the others
            error_file = config.error_file(run)
            if rank == 0:
                atomic_write_text(error_file, traceback.format_exc())
            outcome.failed[run.name] = f"{type(error).__name__}: {error}"
            say(f"{head}: FAILED ({type(error).__name__}: {error}); traceback in {error_file}")
            continue
        config.error_file(run).unlink(missing_ok=True)
        outcome.trained.append(run.name)
        say(
            f"{head}: done in {format_duration(time.perf_counter() - run_started)}, "
            f"{_accuracy_text(state.run_dir)}"
        )
    if config.ood_data is not None and rank == 0:
        _evaluate_out_of_domain(config, runs, outcome, say=say, progress=progress)
    outcome.seconds = time.perf_counter() - started
    say(
        f"{len(outcome.trained)} trained, {len(outcome.skipped)} skipped, {len(outcome.failed)} "
        "failed "
        f"in {format_duration(outcome.seconds)}"
    )
    if aggregate and rank == 0:
        outcome.results = write_results(
            config.out,
            data=config.data,
            experiments=config.experiments,
            failed=outcome.failed,
            ood_data=config.ood_data,
        )
        say(f"results: {outcome.results}")
    return outcome


def _evaluate_out_of_domain(
    config: ReproduceConfig, runs: list[PlannedRun], outcome: PlanOutcome, *, say, progress: bool
) -> None:
    """Evaluate each finished T=4 run on ``config.ood_data``, unless its report is newer than the
    run's own (a run extended since then is evaluated again)."""
    from gifemo.evaluation.evaluate import evaluate_run

    for run in runs:
        report, out = RunDir(config.run_dir(run)).report_json, config.ood_dir(run)
        if run.clip_len != PAPER_CLIP_LEN or not report.is_file():
            continue
        done = RunDir(out).report_json
        if done.is_file() and done.stat().st_mtime_ns >= report.stat().st_mtime_ns:
            continue
        try:
            result = evaluate_run(
                config.run_dir(run), data=config.ood_data, out=out, progress=progress
            )
        except Exception as error:  # one unreadable dataset or run must not cost the others
            outcome.failed[f"{run.name} (out of domain)"] = f"{type(error).__name__}: {error}"
            say(f"{run.name}: out-of-domain evaluation FAILED ({type(error).__name__}: {error})")
            continue
        acc = result["metrics"]["accuracy"]["value"]
        say(f"{run.name}: out-of-domain GIF accuracy {acc:.4f} on {Path(config.ood_data).name}")


def describe_plan(config: ReproduceConfig) -> list[str]:
    """One line per run: name, experiments, and what :func:`run_plan` would do with it."""
    lines = []
    for run in plan_runs(config):
        try:
            action = run_state(config, run).action
        except ValueError as error:
            action = f"conflict: {error}"
        lines.append(f"{run.name:<28} {action:<7} {', '.join(run.experiments)}")
    return lines


def _action_text(action: str) -> str:
    return {
        "train": "training",
        "resume": "resuming (interrupted earlier),",
        "extend": "extending to",
    }[action]


def _accuracy_text(run_dir: Path) -> str:
    try:
        report = read_report(run_dir)
        return f"test GIF accuracy {report['metrics']['accuracy']['value']:.4f}"
    except (OSError, ValueError, KeyError):
        return "no report"


def parse_per_model_kwargs(items: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """``["resnet_convgru:hidden_dim=64", "cnn_lstm:hidden_size=128"]`` -> builder kwargs per model.

    Raises ``ValueError`` for an item that is not ``MODEL:KEY=VALUE``.
    """
    from gifemo.training.config import parse_model_kwargs

    kwargs: dict[str, dict[str, Any]] = {}
    for item in items or []:
        model, sep, rest = item.partition(":")
        if not sep or not model.strip():
            raise ValueError(f"expected MODEL:KEY=VALUE, got {item!r}")
        kwargs.setdefault(model.strip(), {}).update(parse_model_kwargs([rest]))
    return kwargs


def parse_int_list(text: str | Sequence[int], *, name: str) -> tuple[int, ...]:
    """``"0,1,2" -> (0, 1, 2)`` (also accepts a sequence of ints)."""
    if not isinstance(text, str):
        return tuple(int(x) for x in text)
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as error:
        raise ValueError(f"{name}: expected comma-separated integers, got {text!r}") from error
    if not values:
        raise ValueError(f"{name}: expected comma-separated integers, got {text!r}")
    return values
