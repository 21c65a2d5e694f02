"""Action units: which face landmarks each one moves and how, the classes' recipes, and the
displacement fields they make.

A unit is a few landmark groups, each moved along the face's own axes (`synth.faces.face_axes`);
its field is a sum of Gaussian bumps around those landmarks, scaled so its largest displacement is
exactly the amplitude asked for. An event draws its labels (`draw_labels`: sometimes two classes)
and then its units from each label's recipe (`draw_aus`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mer_live.corpora.labels import CLASSES
from mer_live.synth.faces import face_axes


@dataclass(frozen=True)
class PointGroup:
    """Landmarks that move one way: `out` along the face's left-right axis away from the midline
    (negative = inward; no effect on midline points), `up` along the chin → forehead axis."""

    landmarks: tuple[int, ...]
    out: float
    up: float


@dataclass(frozen=True)
class ActionUnit:
    groups: tuple[PointGroup, ...]
    sigma: float  # Gaussian radius as a fraction of the face width


def _au(sigma: float, *groups: tuple[tuple[int, ...], float, float]) -> ActionUnit:
    return ActionUnit(tuple(PointGroup(*g) for g in groups), sigma)


INNER_BROWS = (107, 66, 336, 296)
OUTER_BROWS = (70, 63, 105, 300, 293, 334)
UPPER_LIDS = (159, 158, 160, 386, 385, 387)
LOWER_LIDS = (145, 153, 144, 374, 380, 373)
LIP_CORNERS = (61, 291)
CHIN = (152, 175, 199)

ACTION_UNITS: dict[str, ActionUnit] = {
    "1": _au(0.06, (INNER_BROWS, 0.0, 1.0)),
    "2": _au(0.06, (OUTER_BROWS, 0.15, 1.0)),
    "4": _au(0.06, (INNER_BROWS + OUTER_BROWS, -0.6, -1.0)),
    "5": _au(0.04, (UPPER_LIDS, 0.0, 1.0)),
    "6": _au(0.07, ((205, 425, 50, 280), 0.2, 1.0)),
    "7": _au(0.04, (LOWER_LIDS, -0.2, 1.0)),
    "9": _au(0.05, ((129, 358), -0.3, 1.0)),
    "10": _au(0.05, ((0, 37, 267), 0.0, 1.0)),
    "12": _au(0.06, (LIP_CORNERS, 1.0, 0.8)),
    "14": _au(0.05, (LIP_CORNERS, 0.7, 0.0)),
    "15": _au(0.06, (LIP_CORNERS, 0.2, -1.0)),
    "17": _au(0.07, (CHIN + (17,), 0.0, 1.0)),
    "18": _au(0.05, (LIP_CORNERS, -1.0, 0.0), ((0,), 0.0, -0.4), ((17,), 0.0, 0.4)),
    "24": _au(0.04, ((13, 0), 0.0, -1.0), ((14, 17), 0.0, 1.0)),
    "26": _au(0.08, (CHIN + (14, 17), 0.0, -1.0)),
}
BLINK = _au(0.035, (UPPER_LIDS, 0.0, -1.0))
EYE_CENTRES = ((33, 133, 159, 145), (263, 362, 386, 374))


@dataclass(frozen=True)
class Recipe:
    """AUs of one class: one of `cores`, plus each of `optional` with probability `optional_p`."""

    cores: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()
    optional_p: float = 0.4


RECIPES: dict[str, Recipe] = {
    "Negative": Recipe((("4", "7"),), ("9", "15")),
    "Positive": Recipe((("12",),), ("6",)),
    "Repression": Recipe((("14", "17"), ("17", "24"), ("14", "24"), ("14", "17", "24"))),
    "Surprise": Recipe((("1", "2"),), ("5", "26")),
    "Others": Recipe((("L1", "L2"), ("R1", "R2"), ("10",), ("18",))),
}
# Classes that may co-occur in one event (about one in five events of these primaries carries two labels).
LABEL_PARTNERS: dict[str, tuple[str, ...]] = {
    "Negative": ("Surprise", "Repression"),
    "Positive": ("Surprise", "Repression"),
    "Repression": ("Negative", "Positive"),
    "Surprise": ("Negative", "Positive"),
    "Others": (),
}
MULTI_LABEL_P = 0.2


def parse_au(name: str) -> tuple[str, ActionUnit]:
    """('L' | 'R' | '', unit) of an AU name such as '12' or 'L1'; L/R mean the image-left/right half of view 1."""
    side, code = (name[0], name[1:]) if name[:1] in ("L", "R") else ("", name)
    if code not in ACTION_UNITS:
        raise ValueError(f"unknown action unit {name!r}; known: {', '.join(ACTION_UNITS)}")
    return side, ACTION_UNITS[code]


def draw_aus(rng: np.random.Generator, labels: tuple[str, ...]) -> tuple[str, ...]:
    """AUs for an event of `labels`, in FACS order, one recipe per label."""
    aus: set[str] = set()
    for label in labels:
        recipe = RECIPES[label]
        aus.update(recipe.cores[rng.integers(len(recipe.cores))])
        aus.update(au for au in recipe.optional if rng.random() < recipe.optional_p)
    return tuple(sorted(aus, key=lambda a: (int(a.lstrip("LR")), a)))


def draw_labels(rng: np.random.Generator, primary: str) -> tuple[str, ...]:
    """`primary`, sometimes with a partner class; in CLASSES order."""
    partners = LABEL_PARTNERS[primary]
    labels = {primary}
    if partners and rng.random() < MULTI_LABEL_P:
        labels.add(partners[rng.integers(len(partners))])
    return tuple(c for c in CLASSES if c in labels)


# ---------------------------------------------------------------- displacement fields
@dataclass(frozen=True, eq=False)
class LocalField:
    """A displacement field (h, w, 2) float32 placed at (top, left) of the view."""

    top: int
    left: int
    values: np.ndarray

    def region(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.values.shape[0]), slice(self.left, self.left + self.values.shape[1])


def _moving_points(
    landmarks: np.ndarray, units: list[tuple[str, ActionUnit]]
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(landmark point, direction, σ in px) of every bump the units make on this face; 'L'/'R' keep
    the image-left/right half only (a face turned far to one side may leave such a unit none)."""
    centre, across, up = face_axes(landmarks)
    face_width = float(np.linalg.norm(landmarks[454] - landmarks[234]))
    points = []
    for side, unit in units:
        for group in unit.groups:
            for index in group.landmarks:
                point = landmarks[index]
                offset = float((point - centre) @ across)
                point_side = 0 if abs(offset) < 0.05 * face_width else int(np.sign(offset))
                if (side == "L" and point_side > 0) or (side == "R" and point_side < 0):
                    continue
                points.append((point, group.out * point_side * across + group.up * up, unit.sigma * face_width))
    return points


def moves_landmarks(landmarks: np.ndarray, aus: tuple[str, ...]) -> bool:
    """Whether the action units find landmarks to move on this face."""
    return any(np.any(direction) for _, direction, _ in _moving_points(landmarks, [parse_au(a) for a in aus]))


def displacement_field(
    landmarks: np.ndarray, units: list[tuple[str, ActionUnit]], shape: tuple[int, int], peak_px: float
) -> LocalField:
    """Sum of Gaussian bumps (σ = unit.sigma × face width) around each unit's landmarks, moving them
    along their directions (see _moving_points). Scaled so the largest displacement is exactly `peak_px`."""
    face_width = float(np.linalg.norm(landmarks[454] - landmarks[234]))
    reach = 3.5 * max(u.sigma for _, u in units) * face_width
    top, left = (np.maximum(landmarks.min(0) - reach, 0)).astype(int)[::-1]
    bottom, right = np.minimum(landmarks.max(0) + reach + 1, shape[::-1]).astype(int)[::-1]
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    values = np.zeros(ys.shape + (2,), np.float32)
    for point, direction, sigma in _moving_points(landmarks, units):
        bump = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * sigma**2))
        values += bump[..., None] * direction.astype(np.float32)
    peak = float(np.sqrt((values**2).sum(-1)).max())
    if peak == 0:
        raise ValueError("the action units select no landmark on this face")
    return LocalField(int(top), int(left), values * np.float32(peak_px / peak))


def expression_field(landmarks: np.ndarray, aus: tuple[str, ...], shape: tuple[int, int], peak_px: float) -> LocalField:
    return displacement_field(landmarks, [parse_au(a) for a in aus], shape, peak_px)
