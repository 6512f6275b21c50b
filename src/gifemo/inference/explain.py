"""What in a GIF produced its emotion score: a saliency heat map over every frame, and how much
each frame matters.

>>> from gifemo.inference.explain import explain
>>> e = explain("runs/paper", "cat.gif")                  # doctest: +SKIP
>>> e.label, e.score, e.frame_importance.argmax()         # doctest: +SKIP
>>> e.save("out/")  # heatmap.gif, frame_importance.png, explanation.json   # doctest: +SKIP

Two questions, two measurements, both about the label's **GIF score** (its intensity, the mean
of the clips' calibrated probabilities, exactly what ``gifemo predict`` reports):

* **Where** (per-pixel saliency, one map per frame):

  - ``method="gradcam"`` (default): Grad-CAM (Selvaraju et al. 2017) on the model's last
    convolutional stage, with captum's ``LayerGradCam``: ``backbone.layer4`` of the 2D trunks
    (ResNet-ConvGRU, CNN-LSTM; VGG-ConvGRU: ``backbone.features``), where the frames of a clip
    are folded into the batch, so the map comes out per frame; the last 3D stage of ResNet3D
    (``backbone.layer4``) and C3D (``backbone.conv5b``), whose maps are per time step and
    interpolated over the clip's frames. The target is the label's logit of each clip; a frame
    in several clips (padding) gets the mean of its maps. Needs the torch backend.
  - ``method="occlusion"``: captum's ``Occlusion``: a grey patch (the normalisation mean, i.e.
    zero input) slides over each frame of each clip; a pixel's saliency is the mean drop of the
    label's clip probability over the patches covering it. Model-agnostic (any backend,
    ONNX included), about ``4 x (S / stride)^2`` forward passes per clip.

  The maps are at the model's input size ``S x S``, clipped at 0 and divided by their maximum
  over the whole GIF, so that they compare across frames (a frame the model ignores is dark).
  At 64 px the last ResNet stage is 2 x 2 cells: the map is coarse; ``layer="backbone.layer3"``
  gives 4 x 4.
* **When** (frame importance): the drop in the label's GIF score when one frame is replaced by
  its neighbour (the previous frame; the next for the first; a flat grey frame for a GIF of one
  frame), every other frame unchanged. Only the clips holding that frame change, so this costs
  about one clip's forward pass per frame, batched. Positive: the frame raised the score.

Grad-CAM runs on a private copy of the weights, because captum's hooks on a shared model would
also fire inside concurrent predictions (the service's worker threads); an :class:`Explainer`
holds that copy and serialises its Grad-CAM passes.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gifemo.inference.prediction import Prediction
from gifemo.inference.predictor import Predictor, PredictSource, PreparedGif

METHODS = ("gradcam", "occlusion")
#: Tried in order for the Grad-CAM target: the last convolutional stage of every registered model.
CAM_LAYERS = ("backbone.layer4", "backbone.conv5b", "backbone.features")
#: The output files of :meth:`Explanation.save`.
HEATMAP_GIF = "heatmap.gif"
FRAME_IMPORTANCE_PNG = "frame_importance.png"
EXPLANATION_JSON = "explanation.json"
#: Side of the heat maps stored in ``explanation.json`` (the full ones are ``S x S``).
JSON_MAP_SIZE = 16
#: Longest side of the frames of ``heatmap.gif`` (larger GIFs are scaled down).
HEATMAP_MAX_SIDE = 320


@dataclass(frozen=True)
class Explanation:
    """Why one GIF got its score for one label.

    ``heatmaps`` is ``(F, S, S)`` float32 in ``[0, 1]`` (one per decoded frame, normalised by
    the GIF's maximum); ``frame_importance`` ``(F,)`` is the drop in the label's GIF score when
    the frame is replaced by its neighbour, ``frame_scores`` that replaced score; ``covered``
    ``(F,)`` says which frames are in a clip (a remainder shorter than half a clip is not scored:
    its importance is 0 and its map is the nearest scored frame's).
    """

    source: str
    label: str
    method: str
    layer: str | None
    score: float
    prediction: Prediction
    heatmaps: np.ndarray
    frame_importance: np.ndarray
    frame_scores: np.ndarray
    covered: np.ndarray
    durations_ms: tuple[int, ...]
    truncated: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.frame_importance)

    def to_dict(self, *, map_size: int = JSON_MAP_SIZE) -> dict[str, Any]:
        """The JSON of ``explanation.json`` and of ``POST /v1/explain`` (maps at ``map_size``)."""
        starts = np.concatenate([[0], np.cumsum(self.durations_ms)]) / 1000.0
        return {
            "schema_version": 1,
            "source": self.source,
            "label": self.label,
            "score": self.score,
            "method": self.method,
            "layer": self.layer,
            "model": self.prediction.model.to_dict(),
            "n_frames": self.n_frames,
            "frames": [
                {
                    "index": i,
                    "start_s": round(float(starts[i]), 6),
                    "end_s": round(float(starts[i + 1]), 6),
                    "importance": float(self.frame_importance[i]),
                    "score_without": float(self.frame_scores[i]),
                    "covered": bool(self.covered[i]),
                    "saliency_mass": float(self.heatmaps[i].mean()),
                }
                for i in range(self.n_frames)
            ],
            "frame_importance_method": "drop of the label's GIF score when the frame is "
            "replaced by its neighbour",
            "heatmap_size": map_size,
            "heatmaps": [np.round(_downsample(m, map_size), 3).tolist() for m in self.heatmaps],
            "details": self.details,
            "prediction": self.prediction.to_dict(),
        }

    def heatmap_frames(self, frames: np.ndarray) -> np.ndarray:
        """``(F, H, W, 3) uint8`` frames with the heat map blended in (see :func:`blend`)."""
        if len(frames) != self.n_frames:
            raise ValueError(
                f"{self.source}: {len(frames)} frames given, explained {self.n_frames}"
            )
        return np.stack(
            [blend(frame, heat) for frame, heat in zip(frames, self.heatmaps, strict=True)]
        )

    def save(self, out_dir: str | os.PathLike, data: Path | bytes | None = None) -> dict[str, Path]:
        """Write :data:`HEATMAP_GIF`, :data:`FRAME_IMPORTANCE_PNG` and :data:`EXPLANATION_JSON`
        into ``out_dir`` (atomically). ``data``: the GIF itself (path or bytes), decoded again
        at its own size for the heat-map GIF (default: ``source`` read as a path)."""
        from gifemo.atomic import atomic_write_text

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "heatmap": out / HEATMAP_GIF,
            "frame_importance": out / FRAME_IMPORTANCE_PNG,
            "explanation": out / EXPLANATION_JSON,
        }
        self.write_heatmap_gif(paths["heatmap"], Path(self.source) if data is None else data)
        plot_frame_importance(self, paths["frame_importance"])
        atomic_write_text(paths["explanation"], json.dumps(self.to_dict(), indent=1) + "\n")
        return paths

    def write_heatmap_gif(self, dest, data: Path | bytes) -> None:
        """The GIF's own frames (at most :data:`HEATMAP_MAX_SIDE` px) with the heat map over
        each, with the original delays; ``dest``: a path or a binary file object."""
        import io as _io

        from gifemo.io import read_gif, write_gif

        gif = read_gif(
            data if isinstance(data, Path) else _io.BytesIO(data), strict=not self.truncated
        )
        frames = _fit(gif.frames[: self.n_frames], HEATMAP_MAX_SIDE)
        write_gif(dest, self.heatmap_frames(frames), list(self.durations_ms))

    def heatmap_gif_bytes(self, data: Path | bytes) -> bytes:
        import io as _io

        buffer = _io.BytesIO()
        self.write_heatmap_gif(buffer, data)
        return buffer.getvalue()


def captum_available() -> bool:
    """Whether captum (the ``explain`` extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("captum") is not None


def require_captum() -> None:
    if not captum_available():
        raise ImportError(
            "explanations need captum: pip install 'gifemo[explain]' (or pip install captum)"
        )


class Explainer:
    """Explanations from one loaded model (a :class:`Predictor`, ``TrainedModel`` or a path
    ``gifemo.load`` accepts). Safe to share between threads.

    Args:
        layer: the Grad-CAM target module's dotted name (default: the first of
            :data:`CAM_LAYERS` the model has).
        occlusion_window, occlusion_stride: patch side and step of ``method="occlusion"`` in
            pixels of the model's input (default ``S // 4`` and ``S // 8``).
    """

    def __init__(
        self,
        model: Any,
        *,
        layer: str | None = None,
        occlusion_window: int | None = None,
        occlusion_stride: int | None = None,
    ) -> None:
        if not isinstance(model, Predictor):
            from gifemo.inference.predictor import load

            model = load(model)
        self.predictor = model
        size = model.preprocess.size
        self.occlusion_window = occlusion_window or max(2, size // 4)
        self.occlusion_stride = occlusion_stride or max(1, size // 8)
        self._layer_name = layer
        self._copy = None
        self._lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        return self.predictor.labels

    @property
    def supports_gradcam(self) -> bool:
        return self._torch_model() is not None

    def _torch_model(self):
        module = getattr(self.predictor.backend, "module", None)
        return getattr(module, "model", None)

    def _cam_model(self):
        """``(model copy, layer name, layer module)`` for Grad-CAM, built on first use."""
        if self._copy is None:
            import torch

            source = self._torch_model()
            if source is None:
                raise ValueError(
                    f"method='gradcam' needs the torch backend (this model runs on "
                    f"{self.predictor.info.backend}); use method='occlusion'"
                )
            model = copy.deepcopy(source).float().eval()
            model = model.to(memory_format=torch.contiguous_format)
            name = self._layer_name or next((n for n in CAM_LAYERS if _has_module(model, n)), None)
            if name is None or not _has_module(model, name):
                raise ValueError(
                    f"{self.predictor.info.name}: no module {name or ' / '.join(CAM_LAYERS)!r} "
                    "to compute Grad-CAM on; pass layer= (a dotted module name)"
                )
            self._copy = (model, name, model.get_submodule(name))
        return self._copy

    def explain(
        self, source: PredictSource, *, label: str | None = None, method: str | None = None
    ) -> tuple[Explanation, Path | bytes]:
        """Explain ``source`` (anything :meth:`Predictor.predict` takes) for ``label`` (default:
        its top label). ``method``: ``"gradcam"``, ``"occlusion"`` or None (Grad-CAM when the
        backend allows it). Returns the explanation and the GIF's data (for
        :meth:`Explanation.save`).
        """
        require_captum()
        method = method or ("gradcam" if self.supports_gradcam else "occlusion")
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if label is not None and label not in self.labels:
            raise ValueError(f"unknown label {label!r}; the model's labels are {list(self.labels)}")
        predictor = self.predictor
        name, data = predictor.read_source(source)
        prepared = predictor.prepare(_named(name, data))
        probs = predictor.predict_clips(prepared.clip_batch)
        prediction = predictor._finish(prepared, probs)
        label = label or prediction.top_label
        k = self.labels.index(label)
        importance, scores = frame_importance(predictor, prepared, probs, k)
        heatmaps, covered, layer, details = self.saliency(prepared, label, method)
        explanation = Explanation(
            source=prediction.source,
            label=label,
            method=method,
            layer=layer,
            score=float(prediction.intensities[label]),
            prediction=prediction,
            heatmaps=heatmaps,
            frame_importance=importance,
            frame_scores=scores,
            covered=covered,
            durations_ms=tuple(int(d) for d in prepared.durations_ms),
            truncated=prepared.truncated,
            details=details,
        )
        return explanation, data

    def saliency(
        self, prepared: PreparedGif, label: str, method: str = "gradcam"
    ) -> tuple[np.ndarray, np.ndarray, str | None, dict[str, Any]]:
        """The heat maps alone: ``(heatmaps (F, S, S), covered (F,), layer, details)`` of a
        prepared GIF (:meth:`Predictor.prepare`) for ``label``, by ``method``."""
        require_captum()
        predictor, k = self.predictor, self.labels.index(label)
        details: dict[str, Any] = {}
        if method == "gradcam":
            model, layer, module = self._cam_model()
            with self._lock:
                clip_maps, grid = gradcam_maps(
                    model, module, prepared, predictor.preprocess, k, predictor.batch_size
                )
            details["cam_grid"] = list(grid)  # the layer's own resolution, before upsampling
        elif method == "occlusion":
            layer = None
            clip_maps = occlusion_maps(
                predictor, prepared, k, window=self.occlusion_window, stride=self.occlusion_stride
            )
            details["occlusion"] = {
                "window": self.occlusion_window,
                "stride": self.occlusion_stride,
            }
        else:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        heatmaps, covered = frame_maps(clip_maps, prepared)
        return heatmaps, covered, layer, details


def explain(
    model: Any,
    source: PredictSource,
    *,
    label: str | None = None,
    method: str | None = None,
    layer: str | None = None,
) -> Explanation:
    """One explanation (see the module docstring): ``model`` is a :class:`Predictor`, a
    ``TrainedModel``, or a run dir / ``.ckpt`` / ``.onnx`` path."""
    return Explainer(model, layer=layer).explain(source, label=label, method=method)[0]


# -- frame importance ------------------------------------------------------------------------


def neighbour_of(frame: int, n_frames: int) -> int | None:
    """The frame that stands in for ``frame``: the previous one, the next for the first, None
    for a GIF of one frame."""
    if n_frames == 1:
        return None
    return frame - 1 if frame > 0 else 1


def frame_importance(
    predictor: Predictor, prepared: PreparedGif, probs: np.ndarray, label: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(importance (F,), score_without (F,))``: the label's GIF score with each frame replaced
    by its neighbour, and how much lower than the actual score that is.

    ``probs`` ``(N, C)`` are the clips' probabilities as they are. Only the clips holding a
    frame are run again for it, in batches of the predictor's ``batch_size``.
    """
    frames, clips = prepared.frames, prepared.clips
    n_frames, n_clips = len(frames), len(clips)
    base = probs[:, label].astype(np.float64)
    total = base.sum()
    flat = np.uint8(np.round(frames.reshape(-1, 3).mean(axis=0)))
    jobs = [(f, c) for c, clip in enumerate(clips) for f in sorted(set(clip.tolist()))]
    changed = np.zeros(len(jobs))
    for start in range(0, len(jobs), predictor.batch_size):
        batch = []
        for f, c in jobs[start : start + predictor.batch_size]:
            clip = frames[clips[c]].copy()
            other = neighbour_of(f, n_frames)
            clip[clips[c] == f] = flat if other is None else frames[other]
            batch.append(clip)
        changed[start : start + len(batch)] = predictor.predict_clips(np.stack(batch))[:, label]
    scores = np.full(n_frames, total / n_clips)
    for (f, c), p in zip(jobs, changed, strict=True):
        scores[f] += (p - base[c]) / n_clips
    return (total / n_clips - scores).astype(np.float64), scores


# -- saliency maps ---------------------------------------------------------------------------


def gradcam_maps(
    model, layer, prepared: PreparedGif, preprocess, label: int, batch_size: int
) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(maps (N, T, S, S) float32, grid)``: Grad-CAM maps (ReLU-ed, not normalised) of every
    clip for the logit of ``label``, with captum's ``LayerGradCam`` on ``layer`` of ``model``;
    ``grid`` is the layer's resolution (``(h, w)``, or ``(T', h, w)`` for a 3D stage).

    A 2D trunk's layer output is ``(N * T, C, h, w)`` (frames folded into the batch): its map is
    ``(N * T, 1, h, w)``, one per frame. A 3D stage's is ``(N, C, T', h, w)``: its map
    ``(N, 1, T', h, w)`` is interpolated to ``(T, S, S)``.
    """
    import torch
    import torch.nn.functional as F
    from captum.attr import LayerGradCam

    from gifemo.preprocess import normalize_clip

    device = next(model.parameters()).device
    size, clip_len = preprocess.size, preprocess.clip_len
    cam = LayerGradCam(model, layer)
    batches = []
    batch = prepared.clip_batch
    for start in range(0, len(batch), batch_size):
        chunk = normalize_clip(batch[start : start + batch_size], preprocess.mean, preprocess.std)
        n = len(chunk)
        with torch.enable_grad():
            attribution = cam.attribute(chunk.to(device), target=label, relu_attributions=True)
        attribution = attribution.detach().float()
        grid = tuple(attribution.shape[2:])
        if attribution.dim() == 4:  # (n * T, 1, h, w)
            maps = F.interpolate(
                attribution, size=(size, size), mode="bilinear", align_corners=False
            )
            maps = maps.reshape(n, clip_len, size, size)
        elif attribution.dim() == 5:  # (n, 1, T', h, w)
            maps = F.interpolate(
                attribution, size=(clip_len, size, size), mode="trilinear", align_corners=False
            )[:, 0]
        else:
            raise ValueError(
                f"Grad-CAM layer output of shape {tuple(attribution.shape)} is not a map"
            )
        batches.append(maps.cpu().numpy())
    return np.concatenate(batches).astype(np.float32), grid


def occlusion_maps(
    predictor: Predictor, prepared: PreparedGif, label: int, *, window: int, stride: int
) -> np.ndarray:
    """``(N, T, S, S)`` float32: captum ``Occlusion`` of each clip's probability of ``label``,
    one ``window x window`` patch of one frame at a time (any backend)."""
    import torch
    from captum.attr import Occlusion

    mean = np.asarray(predictor.preprocess.mean) * 255.0

    def forward(frames: torch.Tensor) -> torch.Tensor:
        clips = frames.round().clamp(0, 255).to(torch.uint8).numpy()
        return torch.from_numpy(predictor.predict_clips(clips))

    batch = torch.from_numpy(prepared.clip_batch.astype(np.float32))  # (N, T, S, S, 3)
    baseline = torch.tensor(mean, dtype=torch.float32).expand_as(batch[:1]).contiguous()
    per_eval = max(1, predictor.batch_size // max(1, len(batch)))
    attribution = Occlusion(forward).attribute(
        batch,
        sliding_window_shapes=(1, window, window, 3),
        strides=(1, stride, stride, 3),
        baselines=baseline,
        target=label,
        perturbations_per_eval=per_eval,
    )
    # The attribution is spread over the 3 channels of the patch: add them back up.
    return attribution.sum(dim=-1).clamp(min=0).numpy().astype(np.float32)


def frame_maps(clip_maps: np.ndarray, prepared: PreparedGif) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip maps ``(N, T, S, S)`` -> ``(heatmaps (F, S, S) in [0, 1], covered (F,))``.

    A frame in several clips (or twice in one, as padding) gets the mean of its maps; frames in
    no clip take the nearest covered frame's. Divided by the maximum over the GIF.
    """
    n_frames = len(prepared.frames)
    size = clip_maps.shape[-1]
    sums = np.zeros((n_frames, size, size), dtype=np.float64)
    counts = np.zeros(n_frames)
    for maps, indices in zip(clip_maps, prepared.clips, strict=True):
        for m, f in zip(maps, indices, strict=True):
            sums[f] += m
            counts[f] += 1
    covered = counts > 0
    sums[covered] /= counts[covered, None, None]
    done = np.flatnonzero(covered)
    for f in np.flatnonzero(~covered):
        sums[f] = sums[done[np.abs(done - f).argmin()]]
    peak = sums.max()
    heat = sums / peak if peak > 0 else sums
    return heat.astype(np.float32), covered


# -- pictures --------------------------------------------------------------------------------


def blend(frame: np.ndarray, heat: np.ndarray, *, alpha: float = 0.6) -> np.ndarray:
    """``(H, W, 3) uint8`` frame with the ``(S, S)`` heat map (stretched to ``H x W``, as the
    model squashed the frame) painted over it in matplotlib's ``inferno``, more opaque where
    hotter."""
    from matplotlib import colormaps
    from PIL import Image

    h, w = frame.shape[:2]
    heat = np.asarray(
        Image.fromarray(np.asarray(heat, dtype=np.float32)).resize((w, h), Image.BILINEAR)
    ).clip(0, 1)
    color = colormaps["inferno"](heat)[..., :3] * 255.0
    weight = (alpha * heat)[..., None]
    return (frame * (1 - weight) + color * weight).round().astype(np.uint8)


def plot_frame_importance(explanation: Explanation, path: str | os.PathLike) -> Path:
    """A PNG: each frame's importance (bars, by time) and the saliency mass per frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gifemo.evaluation.plots import save_png

    starts = np.concatenate([[0], np.cumsum(explanation.durations_ms)]) / 1000.0
    widths = np.diff(starts)
    values = explanation.frame_importance
    colors = np.where(values >= 0, "#c0392b", "#2c7fb8")
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 4.2), sharex=True, constrained_layout=True, height_ratios=[3, 1]
    )
    top.bar(starts[:-1], values, width=widths, align="edge", color=colors, edgecolor="none")
    top.axhline(0, color="#444444", lw=0.8)
    top.set_ylabel(f"drop in {explanation.label}\nGIF score")
    top.set_title(
        f"Frame importance for {explanation.label} (score {explanation.score:.3f}):\n"
        "each frame replaced by its neighbour",
        fontsize=10,
    )
    mass = explanation.heatmaps.reshape(len(values), -1).mean(axis=1)
    bottom.bar(starts[:-1], mass, width=widths, align="edge", color="#f39c12", edgecolor="none")
    bottom.set_ylabel(f"{explanation.method}\nmass")
    bottom.set_xlabel("time (s)")
    bottom.set_xlim(0, max(starts[-1], 1e-3))
    return save_png(figure, path, dpi=100)


# -- helpers ---------------------------------------------------------------------------------


def _has_module(model, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def _named(name: str, data: Path | bytes):
    from gifemo.inference.inputs import NamedBytes

    return data if isinstance(data, Path) else NamedBytes(name, data)


def _downsample(heat: np.ndarray, size: int) -> np.ndarray:
    """Block means of an ``(S, S)`` map down to at most ``size x size``."""
    s = heat.shape[0]
    if s <= size:
        return heat
    edges = np.linspace(0, s, size + 1).astype(int)
    return np.array(
        [
            [heat[a:b, c:d].mean() for c, d in zip(edges[:-1], edges[1:], strict=True)]
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )


def _fit(frames: np.ndarray, max_side: int) -> np.ndarray:
    """Frames scaled down (aspect kept) so that their longer side is at most ``max_side``."""
    from PIL import Image

    h, w = frames.shape[1:3]
    scale = max_side / max(h, w)
    if scale >= 1:
        return frames
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.LANCZOS)) for f in frames])
