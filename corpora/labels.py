"""Each dataset's emotion words mapped to the 4DMR five classes and to the MEGC 2019 composite three.

Five classes (CLASSES, the paper's order, the model's outputs): the coders' negative emotions →
Negative, happiness → Positive, repression and surprise keep their class, everything else → Others.

Composite (MEGC 2019, the official ground truth `combined_3class_gt`): negative = CASME II disgust and
repression, SAMM anger, contempt, disgust, fear and sadness, SMIC negative; positive = happiness;
surprise = surprise. CASME II fear and sadness, and every "others", are left out of the protocol
(as the official file leaves them out). A word a map lacks reads as None: the row is skipped and named.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("Negative", "Positive", "Repression", "Surprise", "Others")
COMPOSITE_CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")

FIVE_CLASS: dict[str, dict[str, str]] = {
    "CASME II": {
        "disgust": "Negative",
        "fear": "Negative",
        "sadness": "Negative",
        "happiness": "Positive",
        "repression": "Repression",
        "surprise": "Surprise",
        "others": "Others",
    },
    "SAMM": {
        "anger": "Negative",
        "contempt": "Negative",
        "disgust": "Negative",
        "fear": "Negative",
        "sadness": "Negative",
        "happiness": "Positive",
        "surprise": "Surprise",
        "other": "Others",
        "others": "Others",
    },
    "CAS(ME)3": {
        "anger": "Negative",
        "disgust": "Negative",
        "fear": "Negative",
        "sad": "Negative",
        "happy": "Positive",
        "surprise": "Surprise",
        "others": "Others",
    },
    "SMIC": {"negative": "Negative", "positive": "Positive", "surprise": "Surprise"},
    "MMEW": {
        "anger": "Negative",
        "disgust": "Negative",
        "fear": "Negative",
        "sadness": "Negative",
        "happiness": "Positive",
        "surprise": "Surprise",
        "others": "Others",
    },
}

COMPOSITE: dict[str, dict[str, str]] = {
    "CASME II": {"disgust": "negative", "repression": "negative", "happiness": "positive", "surprise": "surprise"},
    "SAMM": {
        "anger": "negative",
        "contempt": "negative",
        "disgust": "negative",
        "fear": "negative",
        "sadness": "negative",
        "happiness": "positive",
        "surprise": "surprise",
    },
    "SMIC": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
}


def five_class(dataset: str, emotion: str) -> str | None:
    return FIVE_CLASS.get(dataset, {}).get(emotion.strip().lower())


def composite_class(dataset: str, emotion: str) -> str | None:
    return COMPOSITE.get(dataset, {}).get(emotion.strip().lower())


def table_markdown() -> str:
    """The maps as one table (docs/datasets.md): a row per dataset, its words per class."""
    lines = ["| dataset | " + " | ".join(CLASSES) + " | left out of the composite |", "|---" * (len(CLASSES) + 2) + "|"]
    for dataset, words in FIVE_CLASS.items():
        cells = [", ".join(w for w, c in words.items() if c == cls) or "–" for cls in CLASSES]
        left_out = (
            [w for w in words if composite_class(dataset, w) is None] if dataset in COMPOSITE else ["(not in it)"]
        )
        lines.append(f"| {dataset} | " + " | ".join(cells) + f" | {', '.join(left_out) or '–'} |")
    return "\n".join(lines)
