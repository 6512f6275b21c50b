"""Can the CPU-side training pipeline feed a GPU? Clips/s of the data pipeline alone.

The training DataLoader (frame-cache reads, clip assembly, normalisation, augmentation, batch
collation) runs with 0, 2 and 8 worker processes at each ``--sizes``, in two modes:

* **float**: today's CPU path, workers normalise and augment and ship ``(B, T, 3, S, S)``
  float32 batches;
* **uint8**: ``device_transforms``: workers ship ``(B, T, S, S, 3)`` uint8 frames (4x fewer
  bytes) and the drawn augmentation; normalisation and augmentation run on ``--device``
  (timed separately: ``device`` column).

Each is compared with the clips/s a GPU trains at: measured with ``--gpu-rate N`` or, by
default, estimated from the model's FLOPs per training step (``gifemo.models.complexity.
train_step_flops``) and an assumed sustained throughput (``--gpu-tflops``, default 400: an H200's
~990 TFLOP/s bf16 dense at a realistic 40%). "workers/GPU" is how many worker processes of this
CPU's speed one GPU needs: the GPU rate over one worker's rate (a row's clips/s over the cores
its workers can use).

The GIFs: ``--data DIR`` (a dataset folder), else noto-emoji-7 from ``../shared`` (as
``benchmarks/predict.py``), else synthetic faces generated into a temporary folder. The frame
cache is built first (decoding once, not timed).

    .venv/bin/python benchmarks/data_pipeline.py [--sizes 224,112] [--workers 0,2,8]
        [--batches 20] [--device cpu|cuda] [--gpu-tflops 400] [--gpu-rate CLIPS_PER_S]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

NOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "noto-emoji-7"
BATCH = 30


def dataset_root(given: Path | None, scratch: Path) -> Path:
    """A labelled dataset folder: ``given``, noto-emoji-7 (one class per emoji name), or synth."""
    if given is not None:
        return given
    if NOTO.is_dir():
        # noto-emoji-7 is ROOT/<emotion>/*.gif already.
        return NOTO
    from gifemo.data.synth import generate_dataset

    generate_dataset(scratch / "synth", per_class=4, size=128, seed=0)
    return scratch / "synth"


def pipeline_rate(data, *, workers: int, batches: int, device_transforms: bool) -> float:
    """Clips/s of the train DataLoader alone (first batch, the workers' start, not timed)."""
    from gifemo.data.dataset import EpochSampler

    dataset = data.datasets["train"]
    dataset.device_transforms = device_transforms
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=BATCH,
        sampler=EpochSampler(len(dataset), shuffle=True, seed=0),
        num_workers=workers,
        persistent_workers=False,
    )
    clips, start, seen = 0, None, 0
    while seen <= batches:
        for batch in loader:
            if start is None:
                start = time.perf_counter()  # after the first batch: workers are up
            else:
                clips += len(batch[0])
            seen += 1
            if seen > batches:
                break
    return clips / (time.perf_counter() - start)


def device_rate(data, device: torch.device, *, augment: bool, repeats: int = 5) -> float:
    """Clips/s of :func:`finish_batch` on ``device`` for uint8 batches of the train set."""
    from gifemo.data.device_transforms import NO_AUGMENTATION, finish_batch

    dataset = data.datasets["train"]
    dataset.device_transforms = True
    items = [dataset[(i, 0)] for i in range(min(BATCH, len(dataset)))]
    frames = torch.stack([item[0] for item in items]).to(device)
    drawn = torch.stack([item[3] for item in items])
    if not augment:
        drawn = torch.tensor([NO_AUGMENTATION] * len(items))
    drawn = drawn.to(device)
    times = []
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        finish_batch(frames, drawn)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return len(items) / statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: noto)")
    parser.add_argument("--sizes", default="224,112")
    parser.add_argument("--workers", default="0,2,8", help="DataLoader worker counts")
    parser.add_argument("--batches", type=int, default=20, help="timed batches of 30 clips")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--gpu-tflops", type=float, default=400.0)
    parser.add_argument("--gpu-rate", type=float, default=None, help="measured GPU clips/s")
    parser.add_argument("--model", default="resnet_convgru")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()

    from gifemo.data.datamodule import GifDataModule
    from gifemo.data.dataset import clip_augmentation
    from gifemo.hardware import benchmark_header, usable_cores
    from gifemo.models.complexity import meta_model, train_step_flops

    device = torch.device(args.device)
    cores = usable_cores()
    sizes = [int(s) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    print(benchmark_header(device), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        root = dataset_root(args.data, scratch)
        cache_dir = args.cache_dir or scratch / "cache"
        model = meta_model(args.model, clip_len=4)
        for size in sizes:
            flops = train_step_flops(model, clip_len=4, size=size)
            if args.gpu_rate:
                gpu, how = args.gpu_rate, "measured (--gpu-rate)"
            else:
                gpu = args.gpu_tflops * 1e12 / flops
                how = f"estimated: {flops / 1e9:.1f} GFLOP per clip at {args.gpu_tflops:g} TFLOP/s"
            data = GifDataModule(
                root,
                size=size,
                batch_size=BATCH,
                workers=0,
                augment=True,
                cache_dir=cache_dir,
                progress=False,
            )
            data.setup("fit")
            n_clips = len(data.datasets["train"])
            print(
                f"\n{size} px, {args.model}: {n_clips} training clips of {root}; "
                f"GPU rate {gpu:,.0f} clips/s ({how})"
            )
            header = (
                f"{'mode':<16}{'augment':>8}{'workers':>8}{'clips/s':>10}{'MB/s':>9}"
                f"{'device':>10}{'vs GPU':>8}{'workers/GPU':>12}"
            )
            print(header)
            print("-" * len(header))
            for uint8 in (False, True):
                clip_bytes = 4 * size * size * 3 * (1 if uint8 else 4)
                for augment in (False, True):
                    data.datasets["train"].augment = clip_augmentation(size) if augment else None
                    on_device = device_rate(data, device, augment=augment) if uint8 else None
                    for workers in worker_counts:
                        rate = pipeline_rate(
                            data, workers=workers, batches=args.batches, device_transforms=uint8
                        )
                        # One core per worker at most: 8 workers on 2 cores still use 2.
                        per_core = rate / min(max(1, workers), cores)
                        shown = "-" if on_device is None else f"{on_device:,.0f}"
                        print(
                            f"{'uint8 + device' if uint8 else 'float (CPU)':<16}"
                            f"{'on' if augment else 'off':>8}{workers:>8}{rate:>10,.0f}"
                            f"{rate * clip_bytes / 1e6:>9,.0f}{shown:>10}{rate / gpu:>8.2f}"
                            f"{gpu / per_core:>12.0f}",
                            flush=True,
                        )
    print(
        "\nclips/s: the DataLoader alone; MB/s: batch bytes it ships; device: finish_batch "
        f"(normalise + augment) on {device}; vs GPU: clips/s over the GPU rate (>= 1 keeps up); "
        "workers/GPU: the GPU rate over the clips/s of one worker on one core (a row's rate over "
        f"min(workers, {cores} cores))."
    )


if __name__ == "__main__":
    main()
