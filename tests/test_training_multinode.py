"""Multi-node DDP: two "nodes" of one gloo process each on 127.0.0.1, as torchrun or SLURM would
start them, against one process that sees the same clips in the same steps."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest
import torch
from training_helpers import REPO, one_torch_thread, tiny_config, tiny_dataset, train_command

from gifemo.training.checkpoint import load_trained_model, read_checkpoint
from gifemo.training.fit import launch_rank, train
from gifemo.training.run_dir import read_history

__all__ = ["one_torch_thread"]  # autouse: every test here on one torch thread

#: No BatchNorm and no dropout: VGG19's trunk without batch norm, the head without dropout. DDP
#: normalises and drops out per process, so with either the two runs would differ by design.
MODEL = "vgg_convgru"
PER_NODE_BATCH = 8
#: 92 training clips per epoch: an even number, so that DDP pads no clip onto a rank (it repeats
#: one to make the ranks' shares equal), and the last step's halves are equal.
CLIPS_PER_GIF = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_global_rank_counts_the_nodes_before_it(monkeypatch):
    for key in ("RANK", "TORCHELASTIC_RUN_ID", "NODE_RANK", "GROUP_RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(key)
    assert launch_rank(4) == 0
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert launch_rank(4) == 6  # the third process of the second node of four each
    # Inside an interactive SLURM allocation Lightning launches by itself: still 6.
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "bash")
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert launch_rank(4) == 6
    monkeypatch.setenv("SLURM_JOB_NAME", "train")  # a batch job's srun task: SLURM's rank
    monkeypatch.setenv("SLURM_PROCID", "5")
    assert launch_rank(4) == 5
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")  # torchrun's
    monkeypatch.setenv("RANK", "3")
    assert launch_rank(4) == 3


@pytest.mark.slow
def test_two_nodes_train_like_one_process_with_their_total_batch(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    data, cache = tiny_dataset(base / "synth"), base / "cache"
    work = tmp_path_factory.mktemp("multinode")
    port = str(_free_port())
    nodes = []
    for node_rank in (0, 1):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO / "src"),
            # What torchrun or an sbatch script sets on each machine.
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "NODE_RANK": str(node_rank),
            "WORLD_SIZE": "2",
            "LOCAL_RANK": "0",
            "GLOO_SOCKET_IFNAME": "lo",  # gloo's traffic on the loopback interface
        }
        nodes.append(
            subprocess.Popen(
                train_command(
                    data,
                    work / "nodes",
                    cache,
                    model=MODEL,
                    devices=1,
                    num_nodes=2,
                    batch_size=PER_NODE_BATCH,
                    max_clips_per_gif=CLIPS_PER_GIF,
                    lr="1e-4",
                ),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    # The reference, meanwhile: one process, both nodes' batches in each of its steps.
    config = tiny_config(
        data,
        cache,
        model=MODEL,
        epochs=1,
        batch_size=2 * PER_NODE_BATCH,
        max_clips_per_gif=CLIPS_PER_GIF,
        lr=1e-4,
    )
    single = train(config, work / "single", progress=False)
    for node in nodes:
        output = node.communicate(timeout=600)[0]
        assert node.returncode == 0, output[-3000:]

    trained = load_trained_model(work / "nodes")
    meta = trained.metadata
    assert meta["world_size"] == 2
    report = json.loads((work / "nodes" / "report.json").read_text())
    # Validation gathered both nodes' clips, each once: every clip of every validation GIF.
    val_clips = single.val_metrics["val/n_clips"]
    assert meta["metrics"]["val/n_clips"] == val_clips == report["metrics"]["n_clips"]
    assert meta["metrics"]["val/n_gifs"] == report["metrics"]["n_gifs"] == 7

    a = read_checkpoint(work / "nodes" / "checkpoints" / "last.ckpt")
    b = read_checkpoint(work / "single" / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"]
    # DDP averages the gradients of two half-batches: the full batch's mean gradient, up to
    # float32 rounding (the same sums in another order). The losses then agree closely, but
    # Adam divides each gradient by its own running scale, so for a weight whose gradient is
    # mostly rounding noise the step (about lr in size) can differ: a few weights move apart by
    # up to a few lr over the steps, while the typical weight agrees to a small fraction of lr.
    # (Without the gradient averaging, most weights would differ by about lr.)
    steps, lr = b["global_step"], config.lr
    diffs = torch.cat(
        [(a["state_dict"][k] - b["state_dict"][k]).abs().flatten() for k in b["state_dict"]]
    )
    sample = diffs[torch.randperm(len(diffs), generator=torch.Generator().manual_seed(0))[: 10**6]]
    # Measured: median 0.026 lr, 99th percentile 0.56 lr (torch's AVX2 kernels; less natively).
    assert sample.median() < 0.05 * lr and sample.quantile(0.99) < 1.0 * lr
    assert diffs.max() < 2 * lr * steps
    nodes_row, single_row = (
        read_history(work / r / "metrics.csv")[-1] for r in ("nodes", "single")
    )
    assert nodes_row["train/epoch_loss"] == pytest.approx(single_row["train/epoch_loss"], rel=1e-4)
    assert nodes_row["val/loss"] == pytest.approx(single_row["val/loss"], rel=1e-3)
    for key in ("train/epoch_acc", "val/clip_acc", "val/gif_acc"):
        assert nodes_row[key] == single_row[key], key
    with torch.inference_mode():
        assert trained.model(torch.randn(1, 4, 3, 32, 32)).shape == (1, 7)
