"""The LightningModule: any registered model, cross-entropy, Adam, GIF-level validation.

Validation scores every clip of every validation GIF, pools the clip probabilities per GIF
(:func:`gifemo.data.clips.pool_clips`, after gathering them from every DDP rank) and logs
``val/gif_acc`` (what the best checkpoint is chosen by), ``val/clip_acc`` and ``val/loss``.

Randomness inside a training step (dropout) is reseeded from ``(seed, global_step, rank)`` at
every step, so a run resumed from a checkpoint draws exactly what the uninterrupted run drew.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.functional.classification import multiclass_accuracy

from gifemo.data.clips import pool_clips
from gifemo.hardware import hardware_line
from gifemo.models.base import clip_probabilities
from gifemo.preprocess import PreprocessConfig
from gifemo.training.checkpoint import CHECKPOINT_KEY, ModelSpec, checkpoint_payload

#: The metric that selects the best checkpoint (higher is better).
MONITOR = "val/gif_acc"


def step_seed(seed: int, step: int, rank: int) -> int:
    """A 63-bit seed for one (run seed, global step, rank), independent of earlier draws."""
    return int(
        np.random.SeedSequence((seed, step, rank)).generate_state(2, dtype=np.uint64)[0] >> 1
    )


class GifEmotionModule(pl.LightningModule):
    """Trains ``create_model(model_name, **model_kwargs)`` on ``(clip, label, gif_index)`` batches.

    Args:
        model_name, model_kwargs: the registered model and its builder arguments.
        labels: the label set, in class-index order.
        preprocess: :meth:`PreprocessConfig.to_dict` of the input (size, clip length, mean, std).
        lr, weight_decay: Adam's (the paper: 1e-4 and 1e-4).
        pretrained: backbone weights for a fresh run (``None`` when resuming: the checkpoint
            overwrites them anyway).
        channels_last: store the model's weights channels-last (faster convolutions with
            oneDNN on CPU and tensor cores on GPU).
        compile: ``torch.compile`` the model in place (inductor; state dict keys unchanged).
        seed: run seed (per-step reseeding, see the module docstring).
        run_config: the run's :class:`~gifemo.training.config.TrainConfig` as a dict, stored in
            every checkpoint's metadata.
        compute: the :class:`~gifemo.hardware.ComputeChoice` of the run as a dict (precision,
            memory format and why), stored in the checkpoints' metadata too.
    """

    def __init__(
        self,
        *,
        model_name: str,
        model_kwargs: dict[str, Any],
        labels: list[str] | tuple[str, ...],
        preprocess: dict[str, Any],
        lr: float = 1e-4,
        weight_decay: float = 1e-4,
        lr_schedule: str = "constant",
        pretrained: str | None = None,
        channels_last: bool = True,
        compile: bool = False,
        seed: int = 0,
        run_config: dict[str, Any] | None = None,
        compute: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.spec = ModelSpec(
            model_name, dict(model_kwargs), tuple(labels), PreprocessConfig.from_dict(preprocess)
        )
        from gifemo.models import create_model

        self.model = create_model(
            model_name,
            num_classes=len(labels),
            clip_len=self.spec.preprocess.clip_len,
            pretrained=pretrained,
            **model_kwargs,
        )
        if channels_last:
            self.model.to_channels_last()
        if compile:
            from gifemo.models.compilation import compile_model

            compile_model(self.model, training=True)
        num_classes = len(labels)
        self.train_loss = MeanMetric()
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self._val_outputs: list[tuple[torch.Tensor, ...]] = []

    @property
    def num_classes(self) -> int:
        return len(self.spec.labels)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """uint8 batches (``device_transforms``): normalise and augment here, on the device."""
        if isinstance(batch, (tuple, list)) and len(batch) == 4 and batch[0].dtype == torch.uint8:
            from gifemo.data.device_transforms import finish_batch

            frames, target, gif_index, augmentation = batch
            preprocess = self.spec.preprocess
            clip = finish_batch(frames, augmentation, mean=preprocess.mean, std=preprocess.std)
            return clip, target, gif_index
        return batch

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, S, S)`` normalised clips -> ``(B, num_classes)`` logits."""
        return self.model(clip)

    # -- training -----------------------------------------------------------------------

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()
        self.train_acc.reset()

    def train_epoch_metrics(self) -> dict[str, torch.Tensor]:
        """This epoch's training loss and accuracy so far (over every DDP rank)."""
        if self.train_loss.update_count == 0:
            return {}
        return {
            "train/epoch_loss": self.train_loss.compute(),
            "train/epoch_acc": self.train_acc.compute(),
        }

    def on_train_epoch_end(self) -> None:
        # Before the checkpoint callbacks run (Lightning calls them after this hook), so every
        # epoch's checkpoint metadata holds its training metrics, validated epoch or not.
        self.log_dict(self._on_device(self.train_epoch_metrics()), sync_dist=False)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(step_seed(self.hparams.seed, self.global_step, self.global_rank))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int):
        clip, target, _ = batch
        logits = self(clip)
        loss = F.cross_entropy(logits, target)
        self.train_loss.update(loss.detach(), weight=len(target))
        self.train_acc.update(logits.detach(), target)
        self.log(
            "train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=len(target)
        )
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.hparams.get("lr_schedule", "constant") == "constant":
            return optimizer
        # Stepped per batch over the whole run (all epochs, as the trainer will run them), so
        # a resumed run continues the same curve from the checkpoint's scheduler state.
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=self.hparams.lr,
            total_steps=max(1, int(self.trainer.estimated_stepping_batches)),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # -- validation ---------------------------------------------------------------------

    def on_validation_epoch_start(self) -> None:
        self._val_outputs = []

    def validation_step(
        self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int
    ) -> None:
        clip, target, gif_index = batch
        # Lightning's precision plugin already autocasts this step; the same region inside is a
        # no-op that keeps validation on the one scoring path of evaluation and prediction.
        probs, logits = clip_probabilities(self.model, clip, self.trainer.precision)
        loss_sum = F.cross_entropy(logits, target, reduction="sum")
        self._val_outputs.append((gif_index, probs, target, loss_sum.reshape(1)))

    def on_validation_epoch_end(self) -> None:
        gif_index, probs, target, loss_sum = self._gather_validation()
        self._val_outputs = []
        n_clips = len(target)
        if n_clips == 0:
            return
        _, gif_probs, gif_target, _, _ = pool_clips(gif_index, probs, target)
        c = self.num_classes
        val_metrics = {
            "val/loss": loss_sum.sum() / n_clips,
            "val/clip_acc": multiclass_accuracy(probs, target, num_classes=c, average="micro"),
            MONITOR: multiclass_accuracy(
                gif_probs.float(), gif_target, num_classes=c, average="micro"
            ),
        }
        # Every rank holds the same, already global, values: no further reduction.
        self.log_dict(self._on_device(val_metrics), prog_bar=True, sync_dist=False)
        counts = {"val/n_clips": torch.tensor(n_clips), "val/n_gifs": torch.tensor(len(gif_target))}
        self.log_dict(self._on_device(counts), sync_dist=False)

    def _on_device(self, metrics: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.detach().float().to(self.device) for k, v in metrics.items()}

    def _gather_validation(self) -> tuple[torch.Tensor, ...]:
        """This rank's validation outputs, concatenated; under DDP, those of every rank.

        Ranks may hold different numbers of clips (the validation sampler does not pad, so no
        clip counts twice): each pads to the longest with ``gif_index = -1`` before the gather.
        """
        c = self.num_classes
        if self._val_outputs:
            gif_index, probs, target, loss = (
                torch.cat(t) for t in zip(*self._val_outputs, strict=True)
            )
        else:
            gif_index = torch.zeros(0, dtype=torch.long, device=self.device)
            probs = torch.zeros(0, c, device=self.device)
            target = torch.zeros(0, dtype=torch.long, device=self.device)
            loss = torch.zeros(1, device=self.device)
        loss = loss.sum().reshape(1)
        if self.trainer.world_size == 1:
            return gif_index.cpu(), probs.cpu(), target.cpu(), loss.cpu()
        length = torch.tensor([len(target)], device=self.device)
        longest = int(self.all_gather(length).max())
        pad = longest - len(target)
        gif_index = F.pad(gif_index, (0, pad), value=-1)
        target = F.pad(target, (0, pad))
        probs = F.pad(probs, (0, 0, 0, pad))
        gathered = [
            self.all_gather(t).flatten(0, 1).cpu() for t in (gif_index, probs, target, loss)
        ]
        gif_index, probs, target, loss = gathered
        keep = gif_index >= 0
        return gif_index[keep], probs[keep], target[keep], loss

    # -- checkpoints ------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        import lightning

        import gifemo

        trainer = self.trainer
        metadata = {
            "epoch": trainer.current_epoch,
            "epochs_done": trainer.current_epoch + 1,
            "global_step": trainer.global_step,
            "metrics": {
                k: float(v)
                for k, v in trainer.callback_metrics.items()
                if torch.is_tensor(v) and v.numel() == 1
            },
            "config": self.hparams.run_config or {},
            "compute": self.hparams.compute or {},
            "hardware": hardware_line(),
            "world_size": trainer.world_size,
            "gifemo_version": gifemo.__version__,
            "torch_version": str(torch.__version__),
            "lightning_version": str(lightning.__version__),
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        checkpoint[CHECKPOINT_KEY] = checkpoint_payload(self.spec, metadata)
