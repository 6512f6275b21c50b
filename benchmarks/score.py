"""Batch scoring speed and driver memory: predict vs score --engine local vs --engine ray.

Two parts, in one run:

* **Throughput** (GIFs/s), on the same GIFs and model, in this process: ``Predictor.predict_many``
  (what ``gifemo predict`` runs), ``score(engine="local")``, and ``score(engine="ray")`` with 1
  and 2 model actors on a Ray started here with the machine's CPUs (its start-up is timed
  apart). A job's GIFs/s is rows / its scoring time (after planning; for Ray including the
  actors' start-up, which loads the model once per actor, and "first shard" says how long
  the job took to write its first shard file). The model is the paper's
  ResNet-ConvGRU with untrained weights (speed does not depend on them) at ``--size``; the GIFs
  default to the noto-emoji-7 GIFs (512 px, 30-116 frames) beside the repository.
* **Driver memory**: the peak resident memory of the command's process (``VmHWM``) scoring
  manifests of 1,000 and 100,000 rows (one small GIF listed again and again, a small model), each
  in a fresh process, for each engine. Flat means: the same peak for 100x the rows.

    .venv/bin/python benchmarks/score.py [--gifs DIR] [--limit 24] [--size 64]
        [--memory-rows 1000,100000] [--memory-engines ray,local] [--skip-throughput]
        [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "noto-emoji-7"
#: The small model of the memory runs: one ConvGRU layer of 16 channels at 16 px.
SMALL = {"hidden_dim": 16, "num_layers": 1, "head_hidden": 16}


def write_untrained_checkpoint(path: Path, *, size: int, model_kwargs: dict) -> Path:
    """A gifemo checkpoint of the paper's model with seeded, untrained weights."""
    import torch

    from gifemo.labels import PAPER_EMOTIONS
    from gifemo.preprocess import PreprocessConfig
    from gifemo.training.checkpoint import ModelSpec, checkpoint_payload

    torch.manual_seed(0)
    spec = ModelSpec("resnet_convgru", model_kwargs, PAPER_EMOTIONS, PreprocessConfig(size=size))
    state = {f"model.{k}": v for k, v in spec.build().state_dict().items()}
    torch.save({"state_dict": state, "gifemo": checkpoint_payload(spec, {})}, path)
    return path


def peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` and not ``ru_maxrss``: Linux carries
    ``ru_maxrss`` over ``exec``, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB


def throughput(args, work: Path) -> list[dict]:
    import torch

    from gifemo.inference import load
    from gifemo.inference.inputs import find_media_files

    gifs = [str(p) for p in find_media_files(Path(args.gifs))][: args.limit]
    model = write_untrained_checkpoint(work / "paper.ckpt", size=args.size, model_kwargs={})
    options = {"precision": args.precision, "batch_size": args.batch_size, "progress": False}
    options["shard_size"] = max(1, len(gifs) // 6)
    rows = []

    predictor = load(model, precision=args.precision, batch_size=args.batch_size)
    list(predictor.predict_many(gifs[:1]))  # warm-up: first-call allocations and kernels
    start = time.perf_counter()
    results = list(predictor.predict_many(gifs))
    elapsed = time.perf_counter() - start
    n_clips = sum(len(r.clips) for r in results)
    rows.append({"run": "predict (predict_many)", "gifs_per_s": len(gifs) / elapsed, "s": elapsed})

    rows.append(job_row("score --engine local", model, gifs, work / "local", "local", options))

    import ray

    start = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    ray_start = time.perf_counter() - start
    try:
        for actors in (1, 2):
            name, out = f"score --engine ray --actors {actors}", work / f"ray{actors}"
            rows.append(job_row(name, model, gifs, out, "ray", {**options, "actors": actors}))
        cpus = ray.cluster_resources().get("CPU", 0)
    finally:
        ray.shutdown()
    print(
        f"{len(gifs)} GIFs, {n_clips} clips, {args.size} px, batch {args.batch_size}, "
        f"precision {predictor.info.precision}, torch threads {torch.get_num_threads()}; "
        f"Ray started with {cpus:g} CPUs in {ray_start:.1f} s (not counted below)"
    )
    return rows


def job_row(name: str, model, gifs, out: Path, engine: str, options: dict) -> dict:
    """One scoring job, timed: its GIFs/s, and when its first shard file was written."""
    from gifemo.inference.scoring import score

    written: list[float] = []  # when each shard file was written

    def on_shard(shard: int, n_rows: int) -> None:
        written.append(time.perf_counter())

    start = time.perf_counter()
    job = score(model, gifs, out, engine=engine, on_shard=on_shard, **options)
    run = job.summary["this_run"]
    actors = f"{run['actors']} x {run['cpus_per_actor']:g} CPU" if engine == "ray" else ""
    return {
        "run": name,
        "gifs_per_s": run["gifs_per_s"],
        "first_shard_s": written[0] - start,
        "s": run["scoring_s"],
        "wall_s": run["wall_s"],
        "actors": actors,
    }


def memory_child(payload: str) -> None:
    """One job in this fresh process; prints its peak driver memory as JSON."""
    args = json.loads(payload)
    work = Path(args["work"])
    from gifemo.inference import load
    from gifemo.inference.scoring import score

    load(args["model"], precision="32")  # imports and a model: the baseline before the job
    baseline = peak_rss_mb()
    job = score(
        args["model"],
        [args["manifest"]],
        work / "out",
        engine=args["engine"],
        precision="32",
        gifs_per_batch=64,
        progress=False,
    )
    print(
        json.dumps(
            {
                "engine": args["engine"],
                "rows": job.summary["rows"],
                "baseline_mb": baseline,
                "peak_mb": peak_rss_mb(),
                "gifs_per_s": job.summary["this_run"]["gifs_per_s"],
                "wall_s": job.summary["this_run"]["wall_s"],
            }
        )
    )


def memory_runs(args, work: Path) -> list[dict]:
    from PIL import Image

    model = write_untrained_checkpoint(work / "small.ckpt", size=16, model_kwargs=SMALL)
    gif = work / "one.gif"
    frames = [Image.new("RGB", (16, 16), (40 * i, 90, 200 - 40 * i)) for i in range(2)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=50)
    out = []
    for n in map(int, args.memory_rows.split(",")):
        manifest = work / f"manifest-{n}.csv"
        manifest.write_text("path\n" + f"{gif}\n" * n)
        for engine in args.memory_engines.split(","):
            run_dir = work / f"mem-{engine}-{n}"
            payload = {"model": str(model), "manifest": str(manifest), "engine": engine}
            payload["work"] = str(run_dir)
            env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            done = subprocess.run(
                [sys.executable, __file__, "--memory-child", json.dumps(payload)],
                capture_output=True,
                text=True,
                env=env,
            )
            if done.returncode != 0:
                raise SystemExit(f"memory run failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gifs", default=str(NOTO), help="folder of GIFs (throughput)")
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--memory-rows", default="1000,100000")
    parser.add_argument("--memory-engines", default="ray,local")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return

    from gifemo.hardware import benchmark_header

    print(benchmark_header("cpu"), flush=True)
    with tempfile.TemporaryDirectory(prefix="gifemo-score-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            rows = throughput(args, work)
            print("\n| run | GIFs/s | scoring s | first shard s | job wall s | actors |")
            print("|---|---:|---:|---:|---:|---|")
            for r in rows:
                first = f"{r['first_shard_s']:.1f}" if "first_shard_s" in r else ""
                print(
                    f"| {r['run']} | {r['gifs_per_s']:.2f} | {r['s']:.1f} | {first} | "
                    f"{r.get('wall_s', r['s']):.1f} | {r.get('actors', '')} |"
                )
        if not args.skip_memory:
            runs = memory_runs(args, work)
            print("\n| engine | rows | driver RSS after load MB | peak driver RSS MB | GIFs/s |")
            print("|---|---:|---:|---:|---:|")
            for r in runs:
                print(
                    f"| {r['engine']} | {r['rows']:,} | {r['baseline_mb']:.0f} | "
                    f"{r['peak_mb']:.0f} | {r['gifs_per_s']:.1f} |"
                )
    load = os.getloadavg()[0]
    print(f"\nload average at the end: {load:.2f}")


if __name__ == "__main__":
    main()
