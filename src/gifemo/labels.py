"""Label sets: the paper's seven emotions and GIFGIF's seventeen."""

from __future__ import annotations

#: The paper's seven classes, in the order used everywhere (class index = position).
PAPER_EMOTIONS: tuple[str, ...] = (
    "happiness",
    "like",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
)

#: The 17 metrics voted on in GIFGIF (MIT Media Lab), as spelled in the public release.
GIFGIF_EMOTIONS: tuple[str, ...] = (
    "amusement",
    "anger",
    "contempt",
    "contentment",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "guilt",
    "happiness",
    "pleasure",
    "pride",
    "relief",
    "sadness",
    "satisfaction",
    "shame",
    "surprise",
)

#: GIFGIF metric -> paper label. The paper calls GIFGIF's "satisfaction" "like".
GIFGIF_TO_PAPER: dict[str, str] = {
    "happiness": "happiness",
    "satisfaction": "like",
    "surprise": "surprise",
    "sadness": "sadness",
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
}


def validate_label_set(labels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Return ``labels`` as a tuple after checking it is non-empty, unique and well formed."""
    labels = tuple(labels)
    if len(labels) < 2:
        raise ValueError(f"a label set needs at least two labels, got {labels!r}")
    if len(set(labels)) != len(labels):
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        raise ValueError(f"duplicate labels in label set: {dupes}")
    for label in labels:
        if not label or label != label.strip() or "/" in label or "," in label:
            raise ValueError(f"invalid label {label!r}: must be non-empty, no '/', ',' or padding")
    return labels
