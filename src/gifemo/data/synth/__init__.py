"""The built-in synthetic dataset: animated faces expressing the paper's seven emotions
through FACS action units, encoded as real GIFs, in two styles: cartoon people (``"human"``)
and emoji/sticker faces (``"emoji"``).

>>> from gifemo.data.synth import generate_dataset, render_contact_sheet   # doctest: +SKIP
>>> generate_dataset("data/synth", per_class=300, size=128, seed=0)        # OUT/<label>/*.gif
>>> generate_dataset("data/mix", per_class=100, styles="human,emoji")      # 100 + 100 per class
>>> render_contact_sheet("sheet.png", seed=0, styles="emoji")              # a look at it

Modules: ``action_units`` (AU table and class prototypes), ``face`` (identity and geometry),
``draw`` (painting), ``emoji`` (emoji designs and their painting), ``archetypes`` (the face
emoji each class is drawn as, and their cue odds), ``cues`` (painting tears, sweat, steam,
hands...), ``scene`` (background, captions, camera,
light, noise), ``timeline`` (frame counts, delays, expression envelope), ``spec`` (all random
choices of one GIF and the difficulty knob), ``render`` (spec -> frames -> GIF), ``generate``
(the dataset), ``preview``. See docs/synthetic-data.md.
"""

from __future__ import annotations

from gifemo.data.synth.action_units import ACTION_UNITS, PROTOTYPES, au_controls
from gifemo.data.synth.archetypes import ARCHETYPES, CUE_OPTIONS, cue_frequencies
from gifemo.data.synth.generate import (
    LABELS_CSV,
    SynthGif,
    SynthSummary,
    generate_dataset,
    item_seed,
    make_gif,
    parse_styles,
    style_of,
)
from gifemo.data.synth.preview import render_contact_sheet
from gifemo.data.synth.spec import DEFAULT_DIFFICULTY, STYLES, GifSpec, sample_spec
from gifemo.data.synth.timeline import sample_frame_count

__all__ = [
    "ACTION_UNITS",
    "ARCHETYPES",
    "CUE_OPTIONS",
    "DEFAULT_DIFFICULTY",
    "LABELS_CSV",
    "PROTOTYPES",
    "STYLES",
    "GifSpec",
    "SynthGif",
    "SynthSummary",
    "au_controls",
    "cue_frequencies",
    "generate_dataset",
    "item_seed",
    "make_gif",
    "parse_styles",
    "render_contact_sheet",
    "sample_frame_count",
    "sample_spec",
    "style_of",
]
