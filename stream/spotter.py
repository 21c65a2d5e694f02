"""The spotter: events and face states from the running face motion (no image work here).

Per new picture t and view v the pipeline measures FaceMotion(ref, t) (stream.intensity) against
the newest new picture at least `IntensityConfig.lag_s` back: per face region the length of its
mean flow (head motion removed), the head's own motion and the eyes'. A short lag keeps drift,
light and slow head motion out of the comparison (a reference frozen for seconds, as before,
turned every slow head turn into a macro event); a picture that repeats the last one (a 10-fps
capture in a 30-fps file) is not measured at all.

Each channel — a (view, region) pair — is scored against its own history, and only against the
frames whose head moved about as much: z = (x − μ) / σ with μ = median and σ = 1.4826·MAD of the
`neighbours` values nearest in head motion. On real faces the flow's error grows with the head's
motion (a 1-px head turn leaves ~10× the residual of a still face), so one μ and σ for all frames
either fires on every turn or sleeps through a still face. The frame's score is, per region, the
mean of the views' z, then the largest over the regions (an action unit is local).

Events: an onset on score > k_high, traced back to where the firing region's score left `edge_z`;
the event lasts while its own region stays above the release level (k_low, or a share of a
strong event's peak), bridging dips shorter than `gap_s` or seen on fewer than `gap_pictures`
pictures (the lag signal dips between an expression's rise and its fall). Frame t sees the change
between its reference and itself, so the onset lies between the first active frame and its
reference. An event longer than `max_micro_s`, or larger than `macro_px` (beyond any
micro-expression's size: speech, a grimace), is macro.

Face states, per frame: `moving` (the head's motion above `moving_px`), `blink` (the eyes moved
`blink_z` above their own usual level, by `blink_px` at least and `blink_ratio` times more than
the brows), `talking` (the mouth band moved more than `talk_px` in `talk_share` of the last
`talk_s`), else `still`. A candidate with the head moving at its peak or for most of it, in a
band beside the eyes at a blink (the brows above them; the cheeks below, whose top the lower lids
pull), or in the mouth band while talking is not reported: it is counted in
`suppressed` under that state, and the state timeline says why nothing was reported.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, model_validator

from mer_live.stream.events import Event
from mer_live.stream.frames import IMAGE_FPS
from mer_live.stream.intensity import FaceMotion
from mer_live.stream.settings import config_class

Channel = tuple[int, int]  # (view, face region)
EYE_RENEWAL = 16  # the eyes' usual μ and σ are taken anew after this many frames


@config_class
class SpotterConfig:
    fps: float = Field(
        IMAGE_FPS,
        gt=0,
        description="frame rate the time constants are counted in where frames carry no "
        "time (a running stream replaces it with the source's own rate)",
    )
    k_high: float = Field(5.0, gt=0, description="onset level, in baseline σ above μ (set on the design videos)")
    k_low: float = Field(2.5, gt=0, description="offset level (hysteresis: lower than k_high)")
    edge_z: float = Field(1.2, ge=0, description="the onset is traced back to where z first rose above this (≤ k_low)")
    baseline_s: float = Field(30.0, gt=0, description="history kept per view, every measured frame (s)")
    neighbours: int = Field(
        100, ge=3, description="a frame is scored against this many recent frames whose head motion was nearest its own"
    )
    warmup_s: float = Field(1.0, ge=0, description="idle time needed before the first onset can fire (s)")
    min_sigma_fraction: float = Field(
        0.02, ge=0, description="σ ≥ this × μ, so a noiseless source is not hair-triggered"
    )
    gap_s: float = Field(
        0.15,
        ge=0,
        description="an event goes on through dips below its release level shorter than "
        "this (s): the lag signal dips between an expression's rise and fall",
    )
    gap_pictures: int = Field(
        3,
        ge=1,
        description="… or seen on fewer measured pictures than this: in a web video that "
        "holds its pictures (evm_face2: a new one every 2–3 frames) an "
        "expression's rise and fall lie 0.2 s apart, two pictures between",
    )
    release_fraction: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="release level: max(k_low, this × the event's peak score), at most k_high (assumption)",
    )
    min_event_s: float = Field(0.12, ge=0, description="shorter events are noise (s)")
    max_micro_s: float = Field(0.5, gt=0, description="longer events are macro-expressions, logged, not classified (s)")
    macro_px: float = Field(
        0.3,
        gt=0,
        description="larger motions are macro too: a region's mean displacement over "
        "the lag (px at the measured size) beyond a micro-expression's "
        "(a 2.5-px brow lowerer on a still real face: 0.17–0.20)",
    )
    return_share: float = Field(
        0.8,
        gt=0,
        description="a micro event whose region still holds more than this share of "
        "its apex's displacement after its offset is macro: the face "
        "moved and stayed (a held smile's onset, a head that turned)",
    )
    return_floor_px: float = Field(
        0.2,
        ge=0,
        description="… and more than this (px at the measured size): below it what "
        "is left is the flow's drift over the event (0.05–0.18 after "
        "injected events on a still real face), and a share of two "
        "noise-sized numbers says nothing",
    )
    max_event_s: float = Field(4.0, gt=0, description="an event is closed (as macro) after this long (s)")
    refractory_s: float = Field(0.1, ge=0, description="quiet time after an event before the next onset (s)")
    moving_px: float = Field(
        0.75,
        gt=0,
        description="head motion between a picture and its reference (RMS px at the "
        "measured size) above which the face is 'moving'",
    )
    blink_z: float = Field(8.0, gt=0, description="the eyes' motion, in σ of their idle motion, that is a blink")
    blink_px: float = Field(
        0.5,
        ge=0,
        description="… and by at least this much (mean px at the measured size; the lids "
        "of a blink move ~1–2, those of an action unit ~0.2)",
    )
    blink_ratio: float = Field(
        3.0,
        gt=0,
        description="… and at least this many times the brows' (a brow raise or frown "
        "moves the lids about twice as much as the brows; a blink 10×)",
    )
    talk_s: float = Field(3.0, gt=0, description="window in which mouth activity is counted for 'talking' (s)")
    talk_px: float = Field(
        0.18,
        gt=0,
        description="a mouth band moving more than this over the lag (px at the measured "
        "size) is speaking, or chewing (speech on the design videos: 0.3–1)",
    )
    talk_share: float = Field(
        0.15,
        gt=0,
        le=1,
        description="share of that window with the mouth band moving more than talk_px that is talking",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SpotterConfig:
        if not self.k_low < self.k_high:
            raise ValueError(f"the hysteresis needs k_low < k_high, got k_low={self.k_low}, k_high={self.k_high}")
        if self.edge_z > self.k_low:
            raise ValueError(f"edge_z must lie in [0, k_low], got edge_z={self.edge_z}, k_low={self.k_low}")
        if not self.min_event_s <= self.max_micro_s <= self.max_event_s:
            raise ValueError(
                "durations need min_event_s ≤ max_micro_s ≤ max_event_s, got "
                f"{self.min_event_s}, {self.max_micro_s}, {self.max_event_s}"
            )
        return self

    def frames(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))

    def face_stayed(self, at_apex_px: float, left_px: float) -> bool:
        """Whether a face that moved by `at_apex_px` at an event's apex and is still `left_px` away after
        its offset moved and stayed (macro) rather than came back."""
        return left_px > max(self.return_floor_px, self.return_share * at_apex_px)


@dataclass(frozen=True)
class Baseline:
    """Neutral statistics of one channel, from a calibration: the starting μ and a floor for σ."""

    mu: float
    sigma: float


class MotionHistory:
    """One view's recent frames (every measured one, events included): head motion and the value of
    every region, newest `capacity` kept. The eyes' motion is kept in one too, its head motion 0."""

    def __init__(self, capacity: int, regions: int):
        self.heads = np.zeros(capacity)
        self.values = np.zeros((capacity, regions))
        self.count = 0

    def __len__(self) -> int:
        return min(self.count, len(self.heads))

    def add(self, head: float, values: np.ndarray) -> None:
        slot = self.count % len(self.heads)
        self.heads[slot], self.values[slot] = head, values
        self.count += 1

    def nearest(self, head: float, k: int) -> np.ndarray:
        """(k, regions): the values of the k frames whose head motion was nearest `head`."""
        n = len(self)
        k = min(k, n)
        return self.values[np.argpartition(np.abs(self.heads[:n] - head), k - 1)[:k]]


def median_and_spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of `values` (n, …): the median and 1.4826 × the median absolute deviation (σ of
    normal noise, robust to the odd event among the frames). Sorting beats np.median's overhead
    on these small arrays, which the spotter takes every frame."""
    n = len(values)
    ordered = np.sort(values, axis=0)
    mu = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    deviations = np.sort(np.abs(values - mu), axis=0)
    return mu, 1.4826 * (deviations[(n - 1) // 2] + deviations[n // 2]) / 2


@dataclass
class _Active:
    onset: int
    onset_s: float
    reference: int
    reference_s: float
    last_above: int
    last_above_s: float
    peak_score: float
    peak_region: int
    peak_state: str  # the face's state when the score peaked
    pictures_below: int = 0  # measured pictures since the last one above the release level
    peak: dict[Channel, tuple[float, int, float]] = field(default_factory=dict)  # channel → (value, frame, z)
    states: Counter = field(default_factory=Counter)  # face states seen meanwhile


@dataclass
class SpotterState:
    """Everything the spotter remembers; separate from the options so it can be inspected or reset."""

    mode: str = "warmup"  # warmup | idle | active | refractory
    first_s: float | None = None
    quiet_until_s: float = -1.0
    history: dict[int, MotionHistory] = field(default_factory=dict)  # view → its recent frames
    eyes: MotionHistory | None = None  # the eyes' recent motion (mean over views)
    eyes_baseline: tuple[float, float] | None = None  # its μ, σ (renewed every EYE_RENEWAL frames)
    mouth: deque = field(default_factory=deque)  # (t_s, mouth band active) of recent frames
    mouth_active: int = 0  # how many of those are active
    recent: deque = field(default_factory=deque)  # (frame, t_s, reference, reference_s, scores)
    active: _Active | None = None
    face_state: str = "still"
    last_z: dict[int, float] = field(default_factory=dict)  # view → its z in the scoring region
    last_score: float | None = None  # what k_high and k_low were compared with


class Spotter:
    """Feed `update(frame, {view: FaceMotion}, t_s, reference)` once per measured picture; it returns
    the Event (stream.events: its spotted fields) when one ends. `suppressed` counts the candidates
    the face state explained (moving, blink, talking)."""

    def __init__(
        self,
        options: SpotterConfig = SpotterConfig(),
        baselines: dict[Channel, Baseline] | None = None,
        columns: int = 2,
        bands: int = 3,
        suppressed: Counter | None = None,
    ):
        """`columns` and `bands`: how the face's regions are laid out (IntensityConfig), region r
        lying in band r // columns; the top band holds the brows, the bottom one the mouth.
        `suppressed`: where to count the candidates a face state explained (a run's statistics)."""
        self.options = options
        self.state = SpotterState()
        self.state.recent = deque(maxlen=options.frames(options.max_micro_s) + 1)
        self.state.eyes = MotionHistory(options.frames(options.baseline_s), 1)
        self._fixed = dict(baselines or {})
        self.columns = columns
        self.mouth_band, self.brow_band = bands - 1, 0
        # a blink moves the skin above and below the eyes: the brow band and the one under it (not the mouth's)
        self.eye_bands = {self.brow_band} | ({self.brow_band + 1} if self.brow_band + 1 < self.mouth_band else set())
        self._mouth = slice(self.mouth_band * columns, (self.mouth_band + 1) * columns)  # the band's regions
        self._brows = slice(self.brow_band * columns, (self.brow_band + 1) * columns)
        self.suppressed = Counter() if suppressed is None else suppressed
        if self._fixed:
            self.state.mode = "idle"

    # ---------------------------------------------------------------- baselines
    def _z(self, view: int, motion: FaceMotion) -> dict[Channel, float]:
        """z of each region's value against the view's frames nearest in head motion (or the calibrated
        baseline while there are too few)."""
        values = motion.regions
        regions = range(len(values))
        fixed = [self._fixed.get((view, r)) for r in regions]
        history = self.state.history.get(view)
        if history is None or len(history) < 3:
            return {
                (view, r): (float(values[r]) - b.mu) / max(b.sigma, 1e-9)
                for r, b in zip(regions, fixed)
                if b is not None
            }
        mu, sigma = median_and_spread(history.nearest(motion.head, self.options.neighbours))
        floor = [b.sigma if b is not None else 0.0 for b in fixed]  # a calibrated σ: live noise may only raise it
        sigma = np.maximum.reduce([sigma, floor, np.maximum(self.options.min_sigma_fraction * mu, 1e-9)])
        z = (values - mu) / sigma
        return {(view, r): float(z[r]) for r in regions}

    def kept_baselines(self) -> dict[Channel, Baseline]:
        """μ and σ of each channel's stillest recent frames (head motion in its lowest third), to start
        the next recording of the same setup without a warm-up."""
        kept = {}
        for view, history in self.state.history.items():
            n = len(history)
            if n < 3:
                continue
            heads, values = history.heads[:n], history.values[:n]
            mu, sigma = median_and_spread(values[heads <= np.quantile(heads, 1 / 3)])
            sigma = np.maximum(sigma, 1e-9)
            kept.update({(view, r): Baseline(float(mu[r]), float(sigma[r])) for r in range(values.shape[1])})
        return kept or dict(self._fixed)

    def _learn(self, motions: dict[int, FaceMotion], eyes: float | None) -> None:
        size = self.options.frames(self.options.baseline_s)
        for view, motion in motions.items():
            history = self.state.history.get(view)
            if history is None:
                history = self.state.history[view] = MotionHistory(size, len(motion.regions))
            history.add(motion.head, motion.regions)
        if eyes is not None:
            history = self.state.eyes
            history.add(0.0, np.array([eyes]))
            if len(history) >= 3 and (self.state.eyes_baseline is None or history.count % EYE_RENEWAL == 0):
                mu, sigma = median_and_spread(history.values[: len(history), 0])
                self.state.eyes_baseline = (
                    float(mu),
                    max(float(sigma), self.options.min_sigma_fraction * float(mu), 1e-9),
                )

    # ---------------------------------------------------------------- scores and states
    def region_scores(self, z: dict[Channel, float]) -> dict[int, float]:
        """Per face region, the mean of the views' z."""
        by_region: dict[int, list[float]] = {}
        for (_, region), value in z.items():
            by_region.setdefault(region, []).append(value)
        return {region: sum(values) / len(values) for region, values in by_region.items()}

    def _face_state(self, motions: dict[int, FaceMotion], eyes: float | None, t_s: float) -> str:
        options, state = self.options, self.state
        active = max(float(m.regions[self._mouth].max()) for m in motions.values()) > options.talk_px
        state.mouth.append((t_s, active))
        state.mouth_active += active
        while state.mouth and state.mouth[0][0] < t_s - options.talk_s:
            state.mouth_active -= state.mouth.popleft()[1]
        if np.mean([m.head for m in motions.values()]) > options.moving_px:
            return "moving"
        if eyes is not None and state.eyes_baseline is not None:
            mu, sigma = state.eyes_baseline
            brows = max(float(m.regions[self._brows].max()) for m in motions.values())
            if eyes > options.blink_px and (eyes - mu) / sigma > options.blink_z and eyes > options.blink_ratio * brows:
                return "blink"
        if len(state.mouth) >= 3 and state.mouth_active >= options.talk_share * len(state.mouth):
            return "talking"
        return "still"

    def seconds(self, frame: int, t_s: float | None) -> float:
        return t_s if t_s is not None else frame / self.options.fps

    # ---------------------------------------------------------------- the state machine
    def update(
        self,
        frame: int,
        motions: dict[int, FaceMotion],
        t_s: float | None = None,
        reference: int | None = None,
        reference_s: float | None = None,
    ) -> Event | None:
        """One measured picture: `motions` per view against `reference` (the frame compared with,
        recorded at `reference_s`); by default the frame before."""
        options, state = self.options, self.state
        if not motions:
            return None
        t = self.seconds(frame, t_s)
        if reference is None:
            reference, reference_s = frame - 1, t - 1 / options.fps
        elif reference_s is None:
            reference_s = t - (frame - reference) / options.fps
        eye_values = [m.eyes for m in motions.values() if m.eyes > 0]
        eyes = float(np.mean(eye_values)) if eye_values else None
        z = {}
        for view, motion in motions.items():
            z.update(self._z(view, motion))
        scores = self.region_scores(z)
        region = max(scores, key=scores.get) if scores else None
        score = scores[region] if scores else None
        state.last_score = score
        state.last_z = {view: value for (view, r), value in z.items() if r == region}
        state.face_state = self._face_state(motions, eyes, t)
        # every frame joins the history, those of events too: the median and MAD shrug off the few an
        # event adds, while a history kept free of anything above a threshold never follows a face
        # whose idle level has risen (every frame above it then, and none ever learned)
        self._learn(motions, eyes)
        if state.mode == "active":
            return self._update_active(frame, t, motions, z, scores, region)
        if state.mode == "idle" and t >= state.quiet_until_s and score is not None and score > options.k_high:
            self._start(frame, t, reference, reference_s, motions, z, region, score)
            return None
        state.recent.append((frame, t, reference, reference_s, scores))
        state.first_s = t if state.first_s is None else state.first_s
        if state.mode == "warmup" and t - state.first_s >= options.warmup_s:
            state.mode = "idle"
        elif state.mode == "refractory" and t >= state.quiet_until_s:
            state.mode = "idle"
        return None

    def _start(
        self,
        frame: int,
        t: float,
        reference: int,
        reference_s: float,
        motions: dict[int, FaceMotion],
        z: dict[Channel, float],
        region: int,
        score: float,
    ) -> None:
        """Onset: trace the rise back to where the firing region's score left edge_z."""
        state = self.state
        onset, onset_s, onset_ref, onset_ref_s = frame, t, reference, reference_s
        for past, past_s, past_ref, past_ref_s, past_scores in reversed(state.recent):
            if past_scores.get(region, self.options.edge_z) <= self.options.edge_z:
                break
            onset, onset_s, onset_ref, onset_ref_s = past, past_s, past_ref, past_ref_s
        state.active = _Active(
            onset=onset,
            onset_s=onset_s,
            reference=onset_ref,
            reference_s=onset_ref_s,
            last_above=frame,
            last_above_s=t,
            peak_score=score,
            peak_region=region,
            peak_state=state.face_state,
        )
        self._track(frame, motions, z)
        state.mode = "active"
        state.recent.clear()

    def _track(self, frame: int, motions: dict[int, FaceMotion], z: dict[Channel, float]) -> None:
        active = self.state.active
        active.states[self.state.face_state] += 1
        for (view, region), value in z.items():
            channel = (view, region)
            measured = float(motions[view].regions[region])
            if channel not in active.peak or value > active.peak[channel][2]:
                active.peak[channel] = (measured, frame, value)

    def _update_active(
        self,
        frame: int,
        t: float,
        motions: dict[int, FaceMotion],
        z: dict[Channel, float],
        scores: dict[int, float],
        region: int | None,
    ) -> Event | None:
        """`scores`: this picture's region scores (region_scores(z)), `region` the best of them."""
        options, active = self.options, self.state.active
        if self.state.face_state == "blink" and not active.states["blink"] and t - active.onset_s > options.gap_s:
            # a blink ends the event it falls in: its lids would carry the event on (a short event with
            # a blink after it became one long macro event) or, scoring higher, take it over and have it
            # suppressed as the blink; the blink, if it scores, is a candidate of its own. (Within gap_s
            # of the onset the candidate is the blink's own start, seen a frame or two before its state.)
            return self._finish(t)
        self._track(frame, motions, z)
        if region is not None and scores[region] > active.peak_score:
            active.peak_score, active.peak_region, active.peak_state = scores[region], region, self.state.face_state
        # the event lasts while its own region moves (the noise of five others would keep it going), and
        # a strong one ends when it has fallen most of the way back: its slow tail keeps the score a
        # little above k_low long after the face has stopped moving
        own = scores.get(active.peak_region)
        release = min(options.k_high, max(options.k_low, options.release_fraction * active.peak_score))
        if own is not None and own > release:
            active.last_above, active.last_above_s, active.pictures_below = frame, t, 0
        else:
            active.pictures_below += 1
        dip_over = t - active.last_above_s > options.gap_s and active.pictures_below >= options.gap_pictures
        if dip_over or t - active.onset_s >= options.max_event_s:
            return self._finish(t)
        return None

    def close(self, last_frame: int, t_s: float | None = None) -> Event | None:
        """End of stream: an event still open ends at its last active frame, so none is lost."""
        return self._finish(self.seconds(last_frame, t_s)) if self.state.active is not None else None

    def _finish(self, t: float) -> Event | None:
        options, state, active = self.options, self.state, self.state.active
        state.active = None
        state.mode = "refractory"
        state.quiet_until_s = t + options.refractory_s
        event, explained = self._reported(active)
        if explained is not None:
            self.suppressed[explained] += 1
        return event

    def ending(self) -> Event | None:
        """The open event as it would be reported if it ended now: None if there is none, or it would be
        too short or explained by a face state. Frames still to come can change that (they count
        toward the face states that explain an event)."""
        return None if self.state.active is None else self._reported(self.state.active)[0]

    def _reported(self, active: _Active) -> tuple[Event | None, str | None]:
        """(the Event `active` ends as, the face state that explains it instead): (None, None) for
        one too short to be an event."""
        options = self.options
        # the first active frame saw the change over the lag, so the event began between it and its
        # reference; the later frames were measured against that reference, so the face was back
        # after the last one above the release level
        onset = (active.reference + active.onset + 1) // 2
        offset = max(active.last_above, onset + 1)
        duration_s = active.last_above_s - (active.reference_s + active.onset_s) / 2
        peak = {view: p for (view, region), p in active.peak.items() if region == active.peak_region}
        if duration_s < options.min_event_s or not peak:
            return None, None
        band = active.peak_region // self.columns
        explained = self._explained_by(active, band)
        if explained is not None:
            return None, explained
        largest = max((p[0] for p in peak.values()), default=0.0)
        event = Event(
            onset_frame=onset,
            offset_frame=offset,
            apex_frame_by_view={v: p[1] for v, p in peak.items()},
            kind="micro" if duration_s <= options.max_micro_s and largest <= options.macro_px else "macro",
            band=band,
            region=active.peak_region,
            peak_z_by_view={v: round(p[2], 3) for v, p in peak.items()},
            peak_intensity_by_view={v: round(p[0], 4) for v, p in peak.items()},
            reference_frame=active.reference,
        )
        return event, None

    def _explained_by(self, active: _Active, band: int) -> str | None:
        """The face state that explains a candidate, or None for a real event: the head moving at its
        peak or for most of it, a blink at its peak in a band beside the eyes, talking at its peak in
        the mouth band."""
        seen, at_peak = active.states, active.peak_state
        if at_peak == "moving" or 2 * seen["moving"] > sum(seen.values()):
            return "moving"
        if band in self.eye_bands and at_peak == "blink":
            return "blink"
        if band == self.mouth_band and at_peak == "talking":
            return "talking"
        return None
