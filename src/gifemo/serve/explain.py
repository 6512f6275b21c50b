"""``POST /v1/explain``: the explanation of one GIF, computed in a worker thread like a
prediction (same body, limits, queue and deadline: :meth:`PredictService.run`).

The answer is :meth:`gifemo.inference.explain.Explanation.to_dict` (what ``gifemo explain``
writes to ``explanation.json``) plus the heat-map GIF, base64-encoded, under ``heatmap_gif``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from gifemo.inference import NamedBytes, Predictor
from gifemo.inference.explain import METHODS, Explainer, captum_available
from gifemo.serve.errors import ApiError


class ExplainService:
    """The service's :class:`~gifemo.inference.explain.Explainer` (one copy of the weights for
    Grad-CAM, made on the first request) and the validation of the query."""

    def __init__(self, predictor: Predictor) -> None:
        self.explainer = Explainer(predictor)
        self.labels = predictor.labels

    @property
    def methods(self) -> list[str]:
        """The methods this model allows (Grad-CAM needs the torch backend); none without
        captum."""
        if not captum_available():
            return []
        return [m for m in METHODS if m != "gradcam" or self.explainer.supports_gradcam]

    def job(self, *, label: str | None, method: str | None) -> Callable[[NamedBytes], dict]:
        """The work of one request, checked before its body is read: 400 for an unknown label
        or a method the model cannot run; 501 when this installation cannot explain at all."""
        if not self.methods:
            raise ApiError(
                501,
                "explain_unavailable",
                "this server cannot explain: captum is not installed "
                "(pip install 'gifemo[explain]')",
            )
        if label is not None and label not in self.labels:
            raise ApiError(
                400, "bad_request", f"unknown label {label!r}; the labels are {list(self.labels)}"
            )
        if method is not None and method not in self.methods:
            raise ApiError(
                400,
                "bad_request",
                f"method {method!r} is not available for this model; use one of {self.methods}",
            )

        def run(source: NamedBytes) -> dict[str, Any]:
            explanation, data = self.explainer.explain(source, label=label, method=method)
            answer = explanation.to_dict()
            gif = explanation.heatmap_gif_bytes(data)
            answer["heatmap_gif"] = base64.b64encode(gif).decode("ascii")
            return answer

        return run
