"""``make gpu-check``: everything gifemo does on a CUDA GPU, in one run, into one report file.

Meant for a machine that already has torch with CUDA (any recent version; the pin in
pyproject.toml is not enforced) and no internet: it installs gifemo without dependencies, fills
in missing pure-Python dependencies from a local wheel folder (``.whl/``), then runs, each step
in its own process with its own time limit:

1. ``environment``: Python, torch, CUDA, the GPUs, ``gifemo doctor``;
2. ``install``: ``pip install --no-deps --no-build-isolation -e .``, then
   ``pip install --no-index --find-links .whl/ ...`` for each dependency that is missing;
3. ``cuda-tests``: the tests marked ``cuda`` (skipped elsewhere);
4. ``data``: a small synthetic dataset for the steps below;
5. ``train-16-mixed``, ``train-bf16-mixed``: a real ``gifemo train`` run at 224 px of a few
   hundred steps; the loss must fall and stay finite;
6. ``bench-train-step``, ``bench-predict``: ``benchmarks/train_step.py`` and
   ``benchmarks/predict.py`` on the GPU;
7. ``data-pipeline``: ``benchmarks/data_pipeline.py`` against the measured GPU step rate;
8. ``ddp``: a 2-GPU DDP run over NCCL, when there are 2 or more GPUs.

A step that fails or times out is recorded as such and the others still run; the whole check
stays within ``--budget`` seconds (480 by default: each step's limit is cut to what is left).
The report (Markdown; ``--report``, default ``gpu-check-report.md``) is rewritten after every
step, so even a killed run leaves one. ``--dry`` runs the same steps on the CPU at tiny sizes
and changes nothing in the Python environment (the install step only plans): this is what the
test suite and CI run (``make gpu-check DRY=1``).

    python scripts/gpu_check.py [--dry] [--report FILE] [--wheels .whl] [--budget 480]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    """What the steps run at: the real check on a GPU, or its tiny CPU rehearsal."""

    device: str
    size: int
    synth_per_class: int
    synth_size: int
    train_steps: int
    batch_size: int
    workers: int
    bench_steps: int
    predict_gifs: int
    pipeline_batches: int
    precisions: tuple[str, ...]

    @classmethod
    def for_mode(cls, dry: bool) -> Sizes:
        if dry:
            return cls("cpu", 32, 2, 48, 4, 4, 0, 1, 2, 2, ("32",))
        return cls("cuda", 224, 10, 128, 300, 30, 8, 10, 8, 15, ("16-mixed", "bf16-mixed"))


#: Each step's own time limit (seconds) on the GPU; the global budget cuts them further.
STEP_LIMITS: dict[str, int] = {
    "environment": 30,
    "install": 90,
    "cuda-tests": 90,
    "data": 45,
    "train-16-mixed": 80,
    "train-bf16-mixed": 80,
    "bench-train-step": 45,
    "bench-predict": 45,
    "data-pipeline": 45,
    "ddp": 60,
}


#: The modules holding tests marked ``cuda`` (collecting only them keeps the step short).
CUDA_TEST_FILES: tuple[str, ...] = ("tests/test_cuda.py", "tests/test_convgru.py")


@dataclass
class StepResult:
    name: str
    status: str  # "ok", "failed", "timeout", "skipped"
    seconds: float = 0.0
    summary: str = ""
    command: str = ""
    output: str = ""
    data: dict[str, Any] = field(default_factory=dict)


# -- the orchestrator -------------------------------------------------------------------------


class Check:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = Sizes.for_mode(args.dry)
        self.report = Path(args.report)
        self.report.parent.mkdir(parents=True, exist_ok=True)
        self.work = Path(args.work or tempfile.mkdtemp(prefix="gifemo-gpu-check-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.deadline = time.monotonic() + args.budget
        self.results: list[StepResult] = []
        self.started = datetime.now(UTC)
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1"}
        if args.dry:
            # A tiny CPU rehearsal: one thread each, so that parallel steps do not thrash.
            self.env.setdefault("OMP_NUM_THREADS", "1")

    # Each step is a command; its JSON result (if any) is written to a file named in $OUT_JSON.
    def run(self, name: str, command: list[str], *, summarize=None, skip: str = "") -> StepResult:
        if skip:
            return self._record(StepResult(name, "skipped", summary=skip))
        left = self.deadline - time.monotonic()
        limit = min(STEP_LIMITS[name] * (4 if self.args.dry else 1), left)
        if limit < 5:
            return self._record(StepResult(name, "skipped", summary="no time left in the budget"))
        out_json = self.work / f"{name}.json"
        out_json.unlink(missing_ok=True)
        shown = " ".join(command)
        start = time.monotonic()
        try:
            done = subprocess.run(
                command,
                cwd=REPO,
                env={**self.env, "OUT_JSON": str(out_json)},
                capture_output=True,
                text=True,
                timeout=limit,
            )
            output = (done.stdout + done.stderr)[-6000:]
            status = "ok" if done.returncode == 0 else "failed"
            summary = "" if status == "ok" else f"exit status {done.returncode}"
        except subprocess.TimeoutExpired as error:
            output = _text(error.stdout) + _text(error.stderr)
            status, summary = "timeout", f"stopped after its limit of {limit:.0f} s"
        seconds = time.monotonic() - start
        data = json.loads(out_json.read_text()) if out_json.is_file() else {}
        if status == "ok" and data.get("error"):
            status, summary = "failed", data["error"]
        elif status == "ok" and summarize is not None:
            summary = summarize(data, output)
        return self._record(StepResult(name, status, seconds, summary, shown, output, data))

    def _record(self, result: StepResult) -> StepResult:
        self.results.append(result)
        self.write_report()
        print(f"[{result.status:>7}] {result.name} ({result.seconds:.0f} s) {result.summary}")
        return result

    def write_report(self) -> None:
        text = render(self)
        tmp = self.report.with_name(self.report.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.report)

    # -- the steps ----------------------------------------------------------------------------

    def steps(self) -> None:
        py = sys.executable
        me = str(Path(__file__).resolve())
        s = self.sizes
        self.run("environment", [py, me, "--step", "environment"], summarize=_environment)
        self.run("install", [py, me, "--step", "install", *self._common()], summarize=_install)
        self.run(
            "cuda-tests",
            [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda", *CUDA_TEST_FILES],
            summarize=_pytest_summary,
        )
        data = self.work / "synth"
        made = self.run("data", [py, me, "--step", "data", *self._common()], summarize=_data)
        no_data = "" if made.status == "ok" else "no dataset (the data step failed)"
        for name, precision in (("train-16-mixed", "16-mixed"), ("train-bf16-mixed", "bf16-mixed")):
            if self.args.dry and precision != "16-mixed":
                self.run(name, [], skip="dry run: the float32 run above stands for both")
                continue
            # The dry run trains in float32: 16-mixed needs CUDA, bf16 is emulated on most CPUs.
            self.run(
                name,
                [
                    py,
                    me,
                    "--step",
                    "train",
                    "--precision",
                    s.precisions[0] if self.args.dry else precision,
                    *self._common(),
                ],
                summarize=_train,
                skip=no_data,
            )
        bench = self.run(
            "bench-train-step",
            [
                py,
                "benchmarks/train_step.py",
                "--device",
                s.device,
                "--sizes",
                str(s.size),
                "--batch-size",
                str(s.batch_size),
                "--steps",
                str(s.bench_steps),
                "--warmup",
                "1",
                *(["--settings", "fp32"] if self.args.dry else []),
                *([] if self.args.dry else ["--compile"]),
                "--json",
                str(self.work / "bench-train-step.json"),
            ],
            summarize=_bench_train,
        )
        self.run(
            "bench-predict",
            [
                py,
                "benchmarks/predict.py",
                "--device",
                s.device,
                "--size",
                str(s.size),
                "--gifs",
                str(data),
                "--limit",
                str(s.predict_gifs),
                "--latency-gifs",
                "2",
                *(["--torch-only"] if self.args.dry else []),
            ],
            summarize=_last_table,
            skip=no_data,
        )
        rate = bench.data.get("best_clips_per_s")
        self.run(
            "data-pipeline",
            [
                py,
                "benchmarks/data_pipeline.py",
                "--device",
                s.device,
                "--sizes",
                str(s.size),
                "--data",
                str(data),
                "--workers",
                "0,2" if self.args.dry else "0,2,8",
                "--batches",
                str(s.pipeline_batches),
                *(["--gpu-rate", f"{rate:.1f}"] if rate else []),
            ],
            summarize=_last_table,
            skip=no_data,
        )
        gpus = self.gpu_count()
        ddp_skip = ""
        if made.status != "ok":
            ddp_skip = no_data
        elif not self.args.dry and gpus < 2:
            ddp_skip = f"{gpus} GPU: DDP over NCCL needs 2 or more"
        elif self.args.dry and not self.args.ddp:
            ddp_skip = "dry run: DDP rehearsal over gloo only with --ddp"
        self.run(
            "ddp",
            [py, me, "--step", "ddp", *self._common()],
            summarize=_train,
            skip=ddp_skip,
        )

    def _common(self) -> list[str]:
        return [
            "--work",
            str(self.work),
            "--wheels",
            str(self.args.wheels),
            *(["--dry"] if self.args.dry else []),
        ]

    def gpu_count(self) -> int:
        env = next((r for r in self.results if r.name == "environment"), None)
        return int(env.data.get("gpus_count", 0)) if env else 0


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# -- summaries of each step's output ----------------------------------------------------------


def _environment(data, output) -> str:
    gpus = data.get("gpus") or ["no CUDA GPU"]
    return f"torch {data.get('torch')}, CUDA {data.get('cuda')}, {', '.join(gpus)}"


def _install(data, output) -> str:
    missing = data.get("missing") or []
    return ("missing: " + ", ".join(missing)) if missing else "every dependency present"


def _pytest_summary(data, output) -> str:
    lines = [
        line
        for line in output.strip().splitlines()
        if re.search(r"passed|skipped|failed|error", line)
    ]
    return lines[-1].strip("= ") if lines else ""


def _data(data, output) -> str:
    return f"{data.get('gifs')} GIFs at {data.get('size')} px in {data.get('seconds', 0):.0f} s"


def _train(data, output) -> str:
    return (
        f"{data.get('precision')}, {data.get('devices')} device(s): "
        f"{data.get('steps')} steps at {data.get('size')} px, loss {data.get('first_loss', 0):.3f}"
        f" -> {data.get('last_loss', 0):.3f}, {data.get('clips_per_s', 0):.1f} clips/s"
    )


def _bench_train(data, output) -> str:
    return _last_table(data, output)


def _last_table(data, output) -> str:
    """The last row of a benchmark's table (rows start with a size or a backend/mode name)."""
    pattern = re.compile(r"^\s*(\d+\s|torch |onnxruntime |uint8 |float )")
    rows = [line for line in output.splitlines() if pattern.match(line)]
    return re.sub(r"\s+", " ", rows[-1].strip()) if rows else ""


# -- the steps that run here (``--step NAME``) ------------------------------------------------


def step_environment(args) -> dict[str, Any]:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "gpus_count": torch.cuda.device_count(),
    }
    from gifemo.doctor import collect

    # What `gifemo doctor --json` prints: versions, CPU, GPUs, what auto picks on each device.
    print(json.dumps(collect(), indent=1, default=str))
    return info


def missing_requirements(pyproject: Path) -> list[str]:
    """The distributions named in ``pyproject``'s dependencies that are not installed.

    Only presence counts: torch and torchvision of another version are fine (the machine's own
    CUDA build), and so is any installed version of the others.
    """
    import importlib.metadata
    import tomllib

    names = []
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            names.append(name)
    return names


def step_install(args) -> dict[str, Any]:
    """Install gifemo without dependencies; add missing ones from the wheel folder."""
    pip = [sys.executable, "-m", "pip"]
    editable = [*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(REPO)]
    missing = missing_requirements(REPO / "pyproject.toml")
    wheels = Path(args.wheels)
    fill = [*pip, "install", "--no-index", "--find-links", str(wheels), *missing]
    planned = [" ".join(editable)] + ([" ".join(fill)] if missing else [])
    print("\n".join(planned))
    if args.dry:
        print("dry run: nothing installed")
        return {"missing": missing, "commands": planned, "installed": False}
    subprocess.run(editable, check=True)
    if missing:
        if not wheels.is_dir():
            return {"missing": missing, "error": f"missing {missing} and no wheel folder {wheels}"}
        subprocess.run(fill, check=True)
    still = missing_requirements(REPO / "pyproject.toml")
    if still:
        return {"missing": missing, "error": f"still missing after the install: {still}"}
    return {"missing": missing, "commands": planned, "installed": True}


def step_data(args) -> dict[str, Any]:
    from gifemo.data.synth import generate_dataset

    s = Sizes.for_mode(args.dry)
    start = time.perf_counter()
    summary = generate_dataset(
        Path(args.work) / "synth", per_class=s.synth_per_class, size=s.synth_size, seed=0
    )
    if summary.failures:
        return {"error": f"{len(summary.failures)} GIF(s) failed: {summary.failures[:2]}"}
    return {
        "gifs": summary.written,
        "size": s.synth_size,
        "seconds": time.perf_counter() - start,
    }


def step_train(args, *, devices: int = 1) -> dict[str, Any]:
    """A real run of ``train``: loss falls, stays finite; steps/s and clips/s."""
    import math

    import lightning.pytorch as pl

    from gifemo.data.datamodule import GifDataModule
    from gifemo.training.config import TrainConfig
    from gifemo.training.fit import train

    s = Sizes.for_mode(args.dry)
    work = Path(args.work)
    probe = GifDataModule(
        work / "synth",
        size=s.size,
        batch_size=s.batch_size,
        workers=0,
        cache_dir=work / "cache",
        progress=False,
    )
    probe.setup("fit")
    per_epoch = math.ceil(len(probe.datasets["train"]) / devices / s.batch_size)
    epochs = max(1, math.ceil(s.train_steps / per_epoch))

    class Losses(pl.Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []
            self.times: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.losses.append(float(outputs["loss"]))
            self.times.append(time.perf_counter())

    losses = Losses()
    precision = args.precision or ("32" if args.dry else "bf16-mixed")
    config = TrainConfig(
        data=str(work / "synth"),
        size=s.size,
        epochs=epochs,
        batch_size=s.batch_size,
        lr=5e-4,
        workers=s.workers,
        precision=precision,
        accelerator=s.device if s.device == "cpu" else "gpu",
        devices=devices,
        val_every=epochs,
        # The dry run's 2 GIFs per class: one each for test (validation), one for training.
        test_fraction=0.5 if args.dry else 0.2,
        cache_dir=str(work / "cache"),
        **(
            {"model_kwargs": {"hidden_dim": 16, "num_layers": 1, "head_hidden": 16}}
            if args.dry
            else {}
        ),
    )
    run_dir = work / f"run-{precision}-{devices}"
    result = train(config, run_dir, callbacks=[losses], progress=False)
    if result is None:  # a DDP rank other than 0
        return {}
    values = losses.losses
    k = max(1, len(values) // 10)
    first, last = sum(values[:k]) / k, sum(values[-k:]) / k
    timed = losses.times[k:]  # the first steps include start-up (workers, cuDNN autotuning)
    rate = (
        (len(timed) - 1) * s.batch_size * devices / (timed[-1] - timed[0]) if len(timed) > 2 else 0
    )
    finite = all(math.isfinite(v) for v in values)
    out = {
        "size": s.size,
        "precision": result.config.precision,
        "devices": devices,
        "steps": len(values),
        "epochs": epochs,
        "first_loss": first,
        "last_loss": last,
        "finite": finite,
        "clips_per_s": rate,
        "val": result.val_metrics,
    }
    if not finite:
        out["error"] = f"non-finite loss: {[v for v in values if not math.isfinite(v)][:3]}"
    elif not last < first:
        out["error"] = f"the loss did not fall: {first:.4f} -> {last:.4f} over {len(values)} steps"
    return out


def step_ddp(args) -> dict[str, Any]:
    if args.dry:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    return step_train(args, devices=2)


# -- the report -------------------------------------------------------------------------------

MEANING: dict[str, str] = {
    "environment": "Python, torch and CUDA versions, the GPUs; `gifemo doctor` in the output.",
    "install": "gifemo installed with `--no-deps`; dependencies that were missing, filled from "
    "the wheel folder (dry run: planned only).",
    "cuda-tests": "pytest `-m cuda`: the tests that need a CUDA device (they skip elsewhere).",
    "data": "synthetic GIFs (`gifemo data synth`) for the steps below.",
    "train-16-mixed": "a real `train` run under 16-mixed: per-step loss must fall and stay "
    "finite; clips/s after the first tenth of the steps.",
    "train-bf16-mixed": "the same under bf16-mixed.",
    "bench-train-step": "`benchmarks/train_step.py` on the device: seconds per step of the "
    "paper's model per setting (eager and compiled on a GPU).",
    "bench-predict": "`benchmarks/predict.py` on the device: GIFs/s, clips/s, latency.",
    "data-pipeline": "`benchmarks/data_pipeline.py`: the CPU-side pipeline's clips/s with "
    "0/2/8 workers against the measured GPU step rate; workers needed per GPU.",
    "ddp": "a DDP run over NCCL on 2 GPUs (skipped with fewer).",
}


def render(check: Check) -> str:
    """The report: a summary table, then each step's command, data and output tail."""
    mode = "dry run on CPU (tiny sizes)" if check.args.dry else f"{check.sizes.device}"
    lines = [
        "# gifemo GPU check",
        "",
        f"- started: {check.started.isoformat(timespec='seconds')}, mode: {mode}, "
        f"budget {check.args.budget:.0f} s",
        f"- python {platform.python_version()} ({sys.executable}), repo {REPO}",
        "",
        "| step | status | seconds | result |",
        "|---|---|---:|---|",
    ]
    for r in check.results:
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.0f} | {r.summary.replace('|', '/')} |")
    done = {r.name for r in check.results}
    lines += [f"| {name} | pending | | |" for name in STEP_LIMITS if name not in done]
    for r in check.results:
        lines += ["", f"## {r.name}: {r.status}", "", MEANING.get(r.name, "")]
        if r.command:
            lines += ["", f"`{r.command}`"]
        if r.data:
            lines += ["", "```json", json.dumps(r.data, indent=1, default=str), "```"]
        if r.output:
            lines += ["", "<details><summary>output (tail)</summary>", "", "```"]
            lines += [r.output.rstrip()[-4000:], "```", "</details>"]
    summary = {r.name: {"status": r.status, **asdict(r)["data"]} for r in check.results}
    lines += [
        "",
        "## all results (JSON)",
        "",
        "```json",
        json.dumps(summary, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


STEPS = {
    "environment": step_environment,
    "install": step_install,
    "data": step_data,
    "train": step_train,
    "ddp": step_ddp,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry", action="store_true", help="the same steps on CPU, tiny sizes")
    parser.add_argument("--report", default=str(REPO / "gpu-check-report.md"))
    parser.add_argument("--wheels", default=str(REPO / ".whl"), help="local wheel folder")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for all steps")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--ddp", action="store_true", help="dry run: rehearse DDP over gloo too")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--precision", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        data = STEPS[args.step](args)
        if os.environ.get("OUT_JSON") and data:
            Path(os.environ["OUT_JSON"]).write_text(json.dumps(data, default=str))
        return 1 if data.get("error") else 0
    check = Check(args)
    check.steps()
    failed = [r.name for r in check.results if r.status in ("failed", "timeout")]
    print(f"report: {check.report}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
