"""FACS action units, the face rig they drive, and the emotion prototypes built from them.

The generator never moves a landmark directly: an expression is a set of action-unit (AU)
intensities in ``[0, 1]``; this table turns them into *rig controls* (what the face geometry in
``face.py`` understands); the rig turns controls into landmark positions. Keeping the AU ->
control mapping in one table makes the AU definitions reviewable and testable.

References: Ekman & Friesen, *Facial Action Coding System* (1978); the EMFACS prototypes
(Friesen & Ekman 1983) as commonly summarised, e.g. happiness 6+12, sadness 1+4+15,
surprise 1+2+5B+26, fear 1+2+4+5+7+20+26, anger 4+5+7+23, disgust 9+15+16.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: Rig controls, each >= 0 (1 is a strong, clearly visible movement).
CONTROLS: tuple[str, ...] = (
    "brow_inner_raise",  # inner brow ends up (AU1)
    "brow_outer_raise",  # outer brow ends up (AU2)
    "brow_lower",  # whole brow down (AU4, some AU9)
    "brow_squeeze",  # brows drawn together (AU4)
    "forehead_lines",  # horizontal forehead wrinkles (AU1, AU2)
    "glabella_lines",  # vertical lines between the brows (AU4)
    "upper_lid_raise",  # eyes widened, white above the iris (AU5)
    "lid_tighten",  # lower lid up, narrowed eye (AU7)
    "cheek_raise",  # cheeks up, lower lid pushed up, "smiling eyes" (AU6)
    "crow_feet",  # wrinkles at the outer eye corners (AU6)
    "eye_close",  # lids shut (AU43, AU45 blink)
    "nose_wrinkle",  # wrinkles across the nose bridge (AU9)
    "nostril_raise",  # nose wings up and out (AU9)
    "upper_lip_raise",  # upper lip lifted (AU9 side effect)
    "lip_corner_up",  # lip corners up (AU12)
    "lip_corner_out",  # lip corners back towards the cheeks (AU12)
    "nasolabial",  # deepened nose-to-mouth folds (AU12, AU9)
    "lip_corner_down",  # lip corners down (AU15)
    "lower_lip_down",  # lower lip pulled down, lower teeth shown (AU16)
    "lip_stretch",  # lips stretched sideways, flattened (AU20)
    "lip_tighten",  # lips narrowed and thinned (AU23)
    "jaw_drop",  # jaw down, mouth open (AU26)
    "speech",  # talking mouth movement (not an AU; a nuisance)
)


@dataclass(frozen=True)
class ActionUnit:
    """One FACS action unit and the rig controls it moves at intensity 1."""

    code: str
    name: str
    controls: Mapping[str, float] = field(default_factory=dict)


ACTION_UNITS: dict[str, ActionUnit] = {
    au.code: au
    for au in (
        ActionUnit("AU1", "inner brow raiser", {"brow_inner_raise": 1.0, "forehead_lines": 0.6}),
        ActionUnit("AU2", "outer brow raiser", {"brow_outer_raise": 1.0, "forehead_lines": 0.5}),
        ActionUnit(
            "AU4",
            "brow lowerer",
            {"brow_lower": 1.0, "brow_squeeze": 1.0, "glabella_lines": 1.0},
        ),
        ActionUnit("AU5", "upper lid raiser", {"upper_lid_raise": 1.0}),
        ActionUnit("AU6", "cheek raiser", {"cheek_raise": 1.0, "crow_feet": 1.0}),
        ActionUnit("AU7", "lid tightener", {"lid_tighten": 1.0}),
        ActionUnit(
            "AU9",
            "nose wrinkler",
            {
                "nose_wrinkle": 1.0,
                "nostril_raise": 1.0,
                "upper_lip_raise": 0.6,
                "brow_lower": 0.35,
                "nasolabial": 0.5,
            },
        ),
        ActionUnit(
            "AU12",
            "lip corner puller",
            {"lip_corner_up": 1.0, "lip_corner_out": 0.6, "nasolabial": 0.8},
        ),
        ActionUnit("AU15", "lip corner depressor", {"lip_corner_down": 1.0}),
        ActionUnit("AU16", "lower lip depressor", {"lower_lip_down": 1.0}),
        ActionUnit("AU20", "lip stretcher", {"lip_stretch": 1.0}),
        ActionUnit("AU23", "lip tightener", {"lip_tighten": 1.0}),
        ActionUnit("AU26", "jaw drop", {"jaw_drop": 1.0}),
        ActionUnit("AU43", "eyes closed", {"eye_close": 1.0}),
        ActionUnit("AU45", "blink", {"eye_close": 1.0}),
    )
}

#: Action units a GIF's expression may use (blinks, AU45, are timed separately).
EXPRESSIVE_AUS: tuple[str, ...] = tuple(a for a in ACTION_UNITS if a not in ("AU43", "AU45"))

#: Per class: AU -> weight, the intensity the AU reaches at a full-strength apex.
#: "like" is GIFGIF's "satisfaction": a softer AU6+12 smile; its head tilt or slow nod and the
#: occasional blush or hearts are added by the scene (see ``generate.py``).
PROTOTYPES: dict[str, dict[str, float]] = {
    "happiness": {"AU6": 1.0, "AU12": 1.0},
    "like": {"AU6": 0.45, "AU12": 0.6},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 1.0},
    "sadness": {"AU1": 1.0, "AU4": 0.8, "AU15": 1.0},
    "anger": {"AU4": 1.0, "AU5": 0.7, "AU7": 1.0, "AU23": 1.0},
    "disgust": {"AU9": 1.0, "AU15": 0.8, "AU16": 0.8},
    "fear": {"AU1": 1.0, "AU2": 0.8, "AU4": 0.7, "AU5": 1.0, "AU7": 0.5, "AU20": 1.0, "AU26": 0.7},
}

#: Each class's most confusable neighbour, blended in at low intensity on harder settings.
CONFUSABLE: dict[str, str] = {
    "happiness": "like",
    "like": "happiness",
    "surprise": "fear",
    "fear": "surprise",
    "anger": "disgust",
    "disgust": "anger",
    "sadness": "fear",
}


def au_controls(intensities: Mapping[str, float]) -> dict[str, float]:
    """Rig controls for AU intensities: the weighted sum of each AU's controls, clipped to [0, 1.5].

    Unknown AU codes are an error, so a typo cannot silently drop an expression.
    """
    controls = dict.fromkeys(CONTROLS, 0.0)
    for code, value in intensities.items():
        if code not in ACTION_UNITS:
            raise KeyError(f"unknown action unit {code!r}; known: {sorted(ACTION_UNITS)}")
        for control, gain in ACTION_UNITS[code].controls.items():
            controls[control] += gain * float(value)
    return {k: min(max(v, 0.0), 1.5) for k, v in controls.items()}
