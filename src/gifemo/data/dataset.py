"""PyTorch datasets of fixed-length clips read from a :class:`~gifemo.data.cache.FrameCache`.

An item is ``(clip, label, gif_index)``: ``clip`` is a ``(T, 3, S, S)`` float32 tensor normalised
with the model's mean/std (:func:`gifemo.preprocess.normalize_clip`), ``label`` the class index and
``gif_index`` the GIF's index in the dataset, so clip predictions can be pooled per GIF.

* Evaluation (``train=False``): every clip of every GIF (:func:`~gifemo.data.clips.make_clips`),
  GIF by GIF in time order, padding seeded by the GIF's content hash: the same items in every run.
* Training (``train=True``): each GIF gives ``min(max_clips_per_gif, n_clips)`` items per epoch,
  a fresh uniform draw of its clips (and of the padding) every epoch, seeded by
  ``(seed, epoch, content hash)``: epochs differ, runs repeat. The epoch comes from
  :meth:`ClipDataset.set_epoch`, or travels with the index as ``dataset[(i, epoch)]`` (what
  :class:`EpochSampler` yields, so it also reaches persistent DataLoader workers).
* Augmentation (training only): a random resized crop and a horizontal flip drawn once per clip
  and applied to all its frames, seeded per item so that runs repeat whatever the worker count.
* ``device_transforms=True``: items are ``(frames, label, gif_index, augmentation)`` with the
  frames left as ``(T, S, S, 3) uint8`` and the augmentation drawn but not applied (a ``(5,)``
  tensor); :func:`gifemo.data.device_transforms.finish_batch` normalises and augments the batch
  on the training device, with the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from gifemo.data.cache import FrameCache
from gifemo.data.clips import count_clips, gif_seed, make_clips, sample_clips
from gifemo.data.device_transforms import NO_AUGMENTATION, augmentation_seed, draw_augmentation
from gifemo.preprocess import PreprocessConfig, normalize_clip

#: RandomResizedCrop area range: mild, because a face cropped to a corner loses its emotion.
CROP_SCALE: tuple[float, float] = (0.6, 1.0)


def clip_augmentation(size: int):
    """The training augmentation for ``(T, 3, S, S)`` clips: one crop and one flip per clip."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=CROP_SCALE, antialias=True),
            v2.RandomHorizontalFlip(),
        ]
    )


class ClipDataset(Dataset):
    """Clips of the GIFs ``gif_ids`` of ``cache`` (see the module docstring).

    Args:
        cache: the frame cache (its frame size must equal ``preprocess.size``).
        gif_ids: indices into the cache (= dataset record indices); GIFs that failed to decode
            must not be among them (use ``cache.valid_indices``).
        preprocess: clip length, size and normalisation (default: ``PreprocessConfig`` with the
            cache's size and the paper's clip length 4).
        train: training mode (sampled clips, optional augmentation) or evaluation mode.
        stride: clip stride (default ``clip_len``: consecutive, non-overlapping clips).
        min_remainder: see :func:`~gifemo.data.clips.make_clips`.
        max_clips_per_gif: training only; cap on the clips a GIF gives per epoch (None: all).
        augment: training only; random resized crop + horizontal flip, same for every frame.
        seed: run seed for clip sampling, padding and augmentation.
        device_transforms: yield uint8 frames and the drawn augmentation instead of normalised,
            augmented clips (see the module docstring).
    """

    def __init__(
        self,
        cache: FrameCache,
        gif_ids: Sequence[int],
        *,
        preprocess: PreprocessConfig | None = None,
        train: bool = False,
        stride: int | None = None,
        min_remainder: int | None = None,
        max_clips_per_gif: int | None = None,
        augment: bool = False,
        seed: int = 0,
        device_transforms: bool = False,
    ) -> None:
        preprocess = preprocess or PreprocessConfig(size=cache.size)
        if preprocess.size != cache.size:
            raise ValueError(
                f"preprocess.size={preprocess.size} but the cache holds {cache.size}px frames"
            )
        if max_clips_per_gif is not None and max_clips_per_gif < 1:
            raise ValueError(f"max_clips_per_gif must be >= 1 or None, got {max_clips_per_gif}")
        failed = [cache.gifs[i].rel_path for i in gif_ids if cache.gifs[i].error is not None]
        if failed:
            raise ValueError(
                f"{len(failed)} GIF(s) failed to decode and have no frames: {failed[:3]}"
            )
        self.cache = cache
        self.gif_ids = list(gif_ids)
        self.preprocess = preprocess
        self.train = train
        self.stride = stride
        self.min_remainder = min_remainder
        self.max_clips_per_gif = max_clips_per_gif if train else None
        self.seed = seed
        self.device_transforms = device_transforms
        self.epoch = 0
        self.augment = clip_augmentation(preprocess.size) if (augment and train) else None
        # (gif_id, slot): slot numbers a GIF's clips; which clip a slot holds depends on the mode.
        self._items: list[tuple[int, int]] = []
        for gif_id in self.gif_ids:
            n = count_clips(
                cache.gifs[gif_id].n_frames,
                preprocess.clip_len,
                stride=stride,
                min_remainder=min_remainder,
            )
            if self.max_clips_per_gif is not None:
                n = min(n, self.max_clips_per_gif)
            self._items.extend((gif_id, slot) for slot in range(n))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def labels(self) -> list[int]:
        """Class index of every item, in item order (for class weights or balanced samplers)."""
        return [self.cache.gifs[gif_id].label_index for gif_id, _ in self._items]

    @property
    def item_gif_ids(self) -> list[int]:
        """The ``gif_index`` of every item, in item order."""
        return [gif_id for gif_id, _ in self._items]

    def set_epoch(self, epoch: int) -> None:
        """Pick the epoch whose clip draw ``dataset[i]`` returns (training mode)."""
        self.epoch = int(epoch)

    def clip_indices(self, gif_id: int, epoch: int | None = None) -> list[np.ndarray]:
        """Frame indices of the clips GIF ``gif_id`` contributes (to ``epoch``, in training)."""
        gif = self.cache.gifs[gif_id]
        clip_len = self.preprocess.clip_len
        options = dict(stride=self.stride, min_remainder=self.min_remainder)
        if not self.train:
            return make_clips(
                gif.n_frames, clip_len, **options, seed=gif_seed(gif.sha256, self.seed)
            )
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng((*gif_seed(gif.sha256, self.seed), epoch))
        clips = make_clips(gif.n_frames, clip_len, **options, seed=rng)
        return sample_clips(clips, self.max_clips_per_gif, rng)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int, int]:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        gif_id, slot = self._items[index]
        frame_ids = self.clip_indices(gif_id, epoch)[slot]
        # Fancy indexing copies the few frames needed out of the memmap, which is then released.
        frames = np.ascontiguousarray(self.cache.frames(gif_id)[frame_ids])
        label = self.cache.gifs[gif_id].label_index
        if self.device_transforms:
            drawn = (
                draw_augmentation(
                    self.augment, self.preprocess.size, augmentation_seed(self.seed, epoch, index)
                )
                if self.augment is not None
                else torch.tensor(NO_AUGMENTATION)
            )
            return torch.from_numpy(frames), label, gif_id, drawn
        clip = normalize_clip(frames, self.preprocess.mean, self.preprocess.std)
        if self.augment is not None:
            clip = self._augment(clip, index, epoch)
        return clip, label, gif_id

    def _augment(self, clip: torch.Tensor, index: int, epoch: int) -> torch.Tensor:
        from torchvision import tv_tensors

        # Normalisation is per-channel affine and crop/resize/flip are linear, so augmenting after
        # normalising equals augmenting the raw frames. A private seed per item keeps the draw
        # independent of how items are spread over DataLoader workers.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(augmentation_seed(self.seed, epoch, index))
            return self.augment(tv_tensors.Video(clip)).as_subclass(torch.Tensor)


class EpochSampler(Sampler):
    """Yields ``(index, epoch)`` keys for a :class:`ClipDataset`, shuffled per epoch if asked.

    Lightning (and any loop calling ``sampler.set_epoch``) advances the epoch; because the epoch
    travels with each key, workers that outlive an epoch (``persistent_workers=True``) still see it.
    """

    def __init__(self, length: int, *, shuffle: bool = True, seed: int = 0) -> None:
        self.length = length
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = range(self.length)
        for index in order:
            yield index, self.epoch
