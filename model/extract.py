"""Offline pre-processing of a whole dataset into cached phase features, with a progress bar.

A sequence that cannot be used (no face, unreadable frame) is skipped with a message and counted;
it never stops the run.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mer_live.corpora.fourdme import Sequence
from mer_live.model.config import APEX_RULES
from mer_live.stream.face import MediaPipeFaceDetector, NoFaceError
from mer_live.stream.features import FeatureCache, PreprocessConfig, event_features, stack_samples
from mer_live.stream.folders import DatasetError

log = logging.getLogger(__name__)


@dataclass
class Extraction:
    """Features per sequence key, and the sequences skipped with their reason."""

    features: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # on Ray: sequences whose task failed twice

    def _with_apex(self, sequences: list[Sequence]):
        """(sequence, its cached arrays) for extracted sequences whose labels give an apex."""
        for seq in sequences:
            arrays = self.features.get(seq.key)
            if arrays is not None and seq.apex is not None:
                yield seq, arrays

    def apex_errors(self, sequences: list[Sequence]) -> list[int]:
        """|detected − labelled apex| in frames, per view, for sequences whose labels give an apex."""
        return [abs(int(a) - seq.apex) for seq, arrays in self._with_apex(sequences) for a in arrays["apex_frames"]]

    def middle_frame_errors(self, sequences: list[Sequence]) -> list[float]:
        """The baseline an apex detector must beat: |middle of onset…offset − labelled apex|, per view."""
        return [
            abs((seq.onset + seq.offset) / 2 - seq.apex)
            for seq, arrays in self._with_apex(sequences)
            for _ in arrays["apex_frames"]
        ]


_detector: MediaPipeFaceDetector | None = None


def _worker_detector(face_model: str | None) -> MediaPipeFaceDetector:
    global _detector
    if _detector is None:
        _detector = MediaPipeFaceDetector(face_model)
    return _detector


def apex_position(seq: Sequence, numbers: list[int], apex: str) -> int | None:
    """Where in `numbers` (the clip's onset…offset frames) the apex is taken: the coding sheet's
    (`labelled`, when the sheet gives one), the middle of onset…offset (`middle`), or None: detected
    from the flow (eq. 1–3). Never the onset itself, whose rise would be no motion at all."""
    if apex not in APEX_RULES:
        raise ValueError(f"apex must be one of {', '.join(APEX_RULES)}, got {apex!r}")
    if apex == "labelled" and seq.apex is not None:
        target = seq.apex
    elif apex == "middle":
        target = (seq.onset + seq.offset) / 2
    else:
        return None
    nearest = int(np.argmin([abs(n - target) for n in numbers]))
    return min(max(nearest, 1), len(numbers) - 1)


def extract_sequence(
    seq: Sequence, config: PreprocessConfig, face_model: str | None = None, apex: str = "detected"
) -> dict[str, np.ndarray]:
    """Phase features of one sequence: samples (V·2, 3, S, S) float16, apex frame per view, curves."""
    numbers = seq.event_numbers()
    frames = [seq.load_frame(n) for n in numbers]
    views = event_features(frames, _worker_detector(face_model), config, apex_position(seq, numbers, apex))
    return {
        "samples": stack_samples(views).astype(np.float16),
        "apex_frames": np.array([numbers[v.apex_offset] for v in views]),
        "curves": np.stack([v.curve for v in views]),
        "windows": np.array([[v.window.crop.x, v.window.crop.y, v.window.crop.w, v.window.crop.h] for v in views]),
    }


def _extract_or_reason(args: tuple[Sequence, PreprocessConfig, str | None, str]) -> tuple[str, dict | str]:
    seq, config, face_model, apex = args
    try:
        return seq.key, extract_sequence(seq, config, face_model, apex)
    except NoFaceError:
        return seq.key, f"no face found in {seq.folder}"
    except (DatasetError, ValueError) as exc:
        return seq.key, str(exc)


def extract_dataset(
    sequences: list[Sequence],
    cache_dir: Path,
    config: PreprocessConfig = PreprocessConfig(),
    workers: int = 2,
    face_model: str | None = None,
    progress: bool = True,
    ray: str | None = None,
    apex: str = "detected",
) -> Extraction:
    """Features for every sequence, from the cache when present; new ones are computed and cached.
    `apex`: where each clip's apex is taken (`apex_position`). `ray`: one Ray task per sequence
    instead of `workers` processes, on a local Ray ("local") or the cluster at that address (see
    model.batch)."""
    if apex not in APEX_RULES:
        raise ValueError(f"apex must be one of {', '.join(APEX_RULES)}, got {apex!r}")
    cache = FeatureCache(cache_dir, config, apex)
    result = Extraction()
    todo = []
    for seq in sequences:
        cached = cache.load(seq.key)
        if cached is not None:
            result.features[seq.key] = cached
        else:
            todo.append(seq)
    jobs = [(seq, config, face_model, apex) for seq in todo]
    if ray is not None and jobs:
        from mer_live.model.batch import ray_session, run_on_ray

        with ray_session(ray):
            batch = run_on_ray(_extract_or_reason, jobs, [seq.key for seq in todo], "extract", unit="seq")
        _collect((outcome for outcome in batch.results if outcome is not None), result, cache)
        result.failed = batch.failed
    else:
        with tqdm(
            total=len(jobs), desc="extract", unit="seq", disable=not progress or not jobs, file=sys.stderr
        ) as bar:
            if workers > 1 and len(jobs) > 1:
                # spawn, not fork: a forked child inherits MediaPipe's threads in a broken state
                with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                    _collect(pool.map(_extract_or_reason, jobs, chunksize=2), result, cache, bar)
            else:
                _collect(map(_extract_or_reason, jobs), result, cache, bar)
    for key, reason in result.skipped.items():
        log.warning("skipped %s: %s", key, reason)
    for key, reason in result.failed.items():
        log.warning("failed %s (tried twice): %s", key, reason)
    return result


def _collect(outcomes, result: Extraction, cache: FeatureCache, bar: tqdm | None = None) -> None:
    for key, outcome in outcomes:
        if isinstance(outcome, str):
            result.skipped[key] = outcome
        else:
            cache.save(key, outcome)
            result.features[key] = outcome
        if bar is not None:
            bar.update()
