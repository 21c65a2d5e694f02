"""The spotter: a hysteresis state machine over running motion intensity (no image work here).

Per frame t and view v the engine measures I_v(t) = Σ|flow(ref, t)| against a reference frame the
spotter chooses: the last *neutral* frame at least `reference_lag` back, frozen from onset to offset
— the running form of the paper's eq. 1–3 (flow from the onset frame). A frame is neutral when,
outside an event, its score stayed below k_low; so after an event the reference stays before it
until the face is back at rest, and an event's tail is never taken for a resting face. Frames
within `reference_lag` before an onset are struck from the neutral ones: an expression's slow start
hides there, and a reference taken from it would keep the next event from ever ending.

A view's intensity comes per face band (one number per band of the face, or one for the whole
face). Each channel — a (view, band) pair — is scored against its own rolling neutral baseline,
z = (Ī − μ) / σ with μ = median and σ = 1.4826·MAD of idle per-frame intensities and Ī their
trailing mean over `smooth_frames`. The frame's score is, per band, the mean of the views' z (both
cameras see the same face: the expression adds up, their independent noise partly cancels), then
the largest over the bands (an action unit is local: a 0.5-px brow raise lifts its band several σ
while the whole face's sum, with the noise of three times the area, barely moves). The event starts
on the higher threshold (score > k_high) and ends on the lower one (below k_low, or below
`release_fraction` of the event's peak, for `release_frames` frames). The onset is traced back to
where the firing band's score first rose above `edge_z`; the apex per view is the argmax of that
view's raw intensity in the event's strongest band (eq. 3 over the band where the expression is;
the whole face's sum adds the other bands' noise and put 10 % of the apexes 3 frames off).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, model_validator

from stream.events import Event
from stream.settings import config_class

Channel = tuple[int, int]   # (view, face band)


@config_class
class SpotterOptions:
    fps: float = Field(60.0, gt=0, description="frame rate the time constants are counted in (a running stream "
                                               "replaces it with the source's own rate)")
    k_high: float = Field(4.0, gt=0, description="onset threshold, in baseline σ above μ (set on synthetic recordings)")
    k_low: float = Field(1.5, gt=0, description="offset threshold (hysteresis: lower than k_high)")
    reference_lag_s: float = Field(0.2, ge=0, description="the idle reference is at least this far back (s); must "
                                                           "exceed an expression's rise to threshold")
    max_reference_age_s: float = Field(3.0, ge=0, description="with no neutral frame this recent (s), the face's new "
                                                               "state becomes neutral")
    baseline_s: float = Field(4.0, ge=0, description="rolling window of idle frames for μ and σ (s)")
    warmup_s: float = Field(1.0, ge=0, description="idle time needed before the first onset can fire (s; ≤ baseline_s)")
    min_sigma_fraction: float = Field(0.03, ge=0, description="σ ≥ this × μ, so a noiseless source is not "
                                                               "hair-triggered")
    min_event_s: float = Field(0.05, gt=0, description="shorter events are noise (s)")
    max_micro_s: float = Field(0.5, gt=0, description="longer events are macro-expressions, logged, not classified (s)")
    max_event_s: float = Field(4.0, gt=0, description="an event is closed (as macro) after this long (s)")
    refractory_s: float = Field(0.2, ge=0, description="quiet time after an offset before the next onset (s)")
    release_frames: int = Field(2, ge=1, description="frames below the release level that confirm the offset")
    release_fraction: float = Field(0.2, ge=0, lt=1, description="release level: max(k_low, this × the event's peak "
                                                                   "z) (assumption)")
    edge_z: float = Field(0.5, ge=0, description="the onset is traced back to where z first rose above this (≤ k_low)")
    smooth_frames: int = Field(3, ge=1, description="z scores the trailing mean of this many intensities")
    settle_s: float = Field(0.3, ge=0, description="an event past max_micro_s whose score stays within settle_z for "
                                                    "this long (s) has settled: the face moved and stayed")
    settle_z: float = Field(3.0, ge=0, description="see settle_s (see _update_active); 0 = never settles")

    @model_validator(mode="after")
    def _ordered(self) -> SpotterOptions:
        if not self.k_low < self.k_high:
            raise ValueError(f"thresholds need k_low < k_high, got k_low={self.k_low}, k_high={self.k_high}")
        if self.edge_z > self.k_low:
            raise ValueError(f"edge_z must lie in [0, k_low], got edge_z={self.edge_z}, k_low={self.k_low}")
        if not self.min_event_s <= self.max_micro_s <= self.max_event_s:
            raise ValueError("durations need min_event_s ≤ max_micro_s ≤ max_event_s, got "
                             f"{self.min_event_s}, {self.max_micro_s}, {self.max_event_s}")
        if self.warmup_s > self.baseline_s:
            raise ValueError(f"warmup_s ({self.warmup_s}) cannot exceed baseline_s ({self.baseline_s})")
        return self

    def frames(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))


@dataclass(frozen=True)
class Baseline:
    """Neutral statistics of one channel's intensity."""

    mu: float
    sigma: float


@dataclass
class _Active:
    onset: int
    reference: int
    below: int = 0
    last_above: int = 0
    peak_score: float = 0.0
    peak_band: int = 0           # the band whose score was the event's highest
    peak: dict[Channel, tuple[float, int, float]] = field(default_factory=dict)  # channel → (I, frame, z)
    scores: deque | None = None    # the last settle_s of scores


@dataclass
class SpotterState:
    """Everything the spotter remembers; separate from the options so it can be inspected or reset."""

    mode: str = "warmup"           # warmup | idle | active | refractory
    idle_frames: int = 0
    quiet_until: int = -1
    neutral: deque = field(default_factory=deque)                     # recent neutral frame numbers
    history: dict[Channel, deque] = field(default_factory=dict)      # channel → idle intensities
    recent: deque = field(default_factory=deque)                      # (frame, {channel: z}, {channel: I}) while idle
    active: _Active | None = None
    last_z: dict[int, float] = field(default_factory=dict)           # view → its z in the scoring band (their mean is the score)
    last_score: float | None = None                                   # what the thresholds were compared with
    smoothing: dict[Channel, deque] = field(default_factory=dict)    # channel → last smooth_frames intensities
    times: dict[int, float] = field(default_factory=dict)            # frame → recorded time (s), recent frames


class Spotter:
    """Feed `update(frame, {view: I})` once per frame, I one intensity per face band (or a single
    number for the whole face); it returns the Event (stream.events: its spotted fields) when one ends."""

    def __init__(self, options: SpotterOptions = SpotterOptions(), baselines: dict[Channel, Baseline] | None = None):
        self.options = options
        self.state = SpotterState()
        self.state.recent = deque(maxlen=options.frames(options.reference_lag_s) + 1)
        self.state.neutral = deque(maxlen=options.frames(options.max_reference_age_s))
        self._fixed = dict(baselines or {})
        if self._fixed:
            self.state.mode = "idle"

    def reference_frame(self, frame: int) -> int:
        """The frame whose crop frame `frame` is to be compared with."""
        active = self.state.active
        if active is not None:
            return active.reference
        return self._neutral_at_or_before(frame - self.options.frames(self.options.reference_lag_s))

    def _neutral_at_or_before(self, frame: int) -> int:
        """The latest neutral frame ≤ `frame`; `frame` itself when none is recent enough."""
        oldest = frame - self.options.frames(self.options.max_reference_age_s)
        for candidate in reversed(self.state.neutral):
            if candidate <= frame:
                return candidate if candidate >= oldest else frame
        return frame

    def baseline(self, channel: Channel) -> Baseline | None:
        history = self.state.history.get(channel)
        if history is None or len(history) < max(3, self.options.frames(self.options.warmup_s) // 2):
            return self._fixed.get(channel)
        values = np.fromiter(history, float)
        mu = float(np.median(values))
        sigma = 1.4826 * float(np.median(np.abs(values - mu)))
        if channel in self._fixed:   # a calibrated σ is a floor: live noise may only raise it
            sigma = max(sigma, self._fixed[channel].sigma)
        return Baseline(mu, max(sigma, self.options.min_sigma_fraction * mu, 1e-6))

    def kept_baselines(self) -> dict[Channel, Baseline]:
        """Current baselines, to start the next recording of the same setup without a warm-up."""
        kept = {c: self.baseline(c) for c in set(self.state.history) | set(self._fixed)}
        return {c: b for c, b in kept.items() if b is not None}

    @staticmethod
    def band_scores(z: dict[Channel, float]) -> dict[int, float]:
        """Per face band, the mean of the views' z."""
        by_band: dict[int, list[float]] = {}
        for (_, band), value in z.items():
            by_band.setdefault(band, []).append(value)
        return {band: sum(values) / len(values) for band, values in by_band.items()}

    @classmethod
    def strongest_band(cls, z: dict[Channel, float]) -> tuple[int | None, float | None]:
        """(band, score): the band whose mean z over views is highest, and that mean — the
        frame's score; (None, None) without any z."""
        scores = cls.band_scores(z)
        if not scores:
            return None, None
        band = max(scores, key=scores.get)
        return band, scores[band]

    @classmethod
    def combined(cls, z: dict[Channel, float]) -> float | None:
        """The frame's score."""
        return cls.strongest_band(z)[1]

    def _smoothed(self, channels: dict[Channel, float]) -> dict[Channel, float]:
        """Trailing mean per channel of the last `smooth_frames` intensities."""
        smoothed = {}
        for channel, value in channels.items():
            recent = self.state.smoothing.setdefault(channel, deque(maxlen=self.options.smooth_frames))
            recent.append(value)
            smoothed[channel] = sum(recent) / len(recent)
        return smoothed

    @staticmethod
    def _z(channels: dict[Channel, float], baselines: dict[Channel, Baseline | None]) -> dict[Channel, float]:
        return {channel: (value - baselines[channel].mu) / baselines[channel].sigma
                for channel, value in channels.items() if baselines[channel] is not None}

    def update(self, frame: int, intensities: dict[int, np.ndarray | float], t_s: float | None = None) -> Event | None:
        """z scores the trailing mean intensity against the baseline of raw per-frame values: sensor and
        JPEG noise change every frame while an expression lasts ≥ 6 frames, so the mean lowers the
        noise far more than the event. The apex is the argmax of the raw values."""
        options, state = self.options, self.state
        if t_s is not None:   # durations come from recorded time: a camera's real rate is not its nominal one
            state.times[frame] = t_s
            if len(state.times) > 2 * options.frames(options.max_event_s + options.reference_lag_s) + 8:
                for old in sorted(state.times)[:len(state.times) // 2]:
                    del state.times[old]
        channels = {(view, band): float(value) for view, values in intensities.items()
                    for band, value in enumerate(np.atleast_1d(values))}
        baselines = {channel: self.baseline(channel) for channel in channels}
        z = self._z(self._smoothed(channels), baselines)
        band, score = self.strongest_band(z)
        state.last_score = score
        state.last_z = {view: value for (view, b), value in z.items() if b == band}   # their mean is the score
        if state.mode == "active":
            return self._update_active(frame, channels, z, band, score)
        if state.mode != "warmup" and frame >= state.quiet_until and score is not None and score > options.k_high:
            self._start(frame, channels, z, band, score)
            return None
        if state.mode != "refractory":
            self._learn(channels)
        # a neutral frame may become the reference of an event: one odd frame (a glitch the mean
        # hides) would lift every comparison with it and keep the event from ending
        if score is None or (score < options.k_low
                             and self.combined(self._z(channels, baselines)) < options.k_low):
            state.neutral.append(frame)
        state.recent.append((frame, z, channels))
        state.idle_frames += 1
        if state.mode == "warmup" and state.idle_frames >= options.frames(options.warmup_s):
            state.mode = "idle"
        elif state.mode == "refractory" and frame >= state.quiet_until:
            state.mode = "idle"
        return None

    def duration_s(self, first: int, last: int) -> float:
        """Seconds from frame `first` to frame `last`: by their recorded times when both are known
        (a 30-fps camera delivering 15 fps, a variable-rate phone video), else by the nominal rate."""
        times = self.state.times
        if first in times and last in times:
            return times[last] - times[first]
        return (last - first) / self.options.fps

    def close(self, last_frame: int) -> Event | None:
        """End of stream: an event still open ends at the last frame, so none is lost."""
        return self._finish(last_frame) if self.state.active is not None else None

    def _learn(self, channels: dict[Channel, float]) -> None:
        size = self.options.frames(self.options.baseline_s)
        for channel, value in channels.items():
            self.state.history.setdefault(channel, deque(maxlen=size)).append(value)

    def _start(self, frame: int, channels: dict[Channel, float], z: dict[Channel, float], band: int,
               score: float) -> None:
        """Onset: freeze the reference and trace the rise back to where the band that fired first
        left edge_z (the largest of several bands' noise would often stay above it)."""
        state = self.state
        onset = frame
        rising = [(frame, z, channels)]
        for past, past_z, past_i in reversed(state.recent):
            if self.band_scores(past_z).get(band, self.options.edge_z) <= self.options.edge_z:
                break
            onset = past
            rising.append((past, past_z, past_i))
        # An expression starts slowly, so the frames just before the traced-back onset may already
        # hold some of it: neither this event nor a later one takes its reference from them.
        guard = onset - self.options.frames(self.options.reference_lag_s)
        while state.neutral and state.neutral[-1] > guard:
            state.neutral.pop()
        reference = self._neutral_at_or_before(guard)
        state.active = _Active(onset=onset, reference=reference, last_above=frame, peak_score=score,
                               peak_band=band, scores=deque(maxlen=self.options.frames(self.options.settle_s)))
        for f, f_z, f_i in rising:
            self._track_peak(f, f_i, f_z)
        state.mode = "active"
        state.recent.clear()

    def _track_peak(self, frame: int, channels: dict[Channel, float], z: dict[Channel, float]) -> None:
        peak = self.state.active.peak
        for channel, value in channels.items():
            if channel in z and (channel not in peak or value > peak[channel][0]):
                peak[channel] = (value, frame, z[channel])

    def _update_active(self, frame: int, channels: dict[Channel, float], z: dict[Channel, float],
                       band: int | None, score: float | None) -> Event | None:
        options, active = self.options, self.state.active
        self._track_peak(frame, channels, z)
        if score is not None and score > active.peak_score:
            active.peak_score, active.peak_band = score, band
        # a strong event ends when it has fallen most of the way back: against an ageing reference,
        # drift and flicker keep z a little above k_low long after the face is neutral again
        release = min(options.k_high, max(options.k_low, options.release_fraction * active.peak_score))
        if score is not None and score < release:
            active.below += 1
        else:
            active.below = 0
            active.last_above = frame
        too_long = frame - active.onset >= options.frames(options.max_event_s)
        if active.below >= options.release_frames or too_long:
            return self._finish(frame if too_long else active.last_above + 1)
        # A face that moved and stays (a head roll or zoom, which the affine removal leaves a trace
        # of; a held expression) keeps z high against the frozen reference for as long as it stays, and the
        # event ran to max_event_s, swallowing whatever came next. Once an event is too long for a
        # micro-expression and its score has stopped changing (within settle_z, the spread of
        # noise, for settle_s), it ends, and the next reference is taken from the face as it is.
        if score is not None and options.settle_z > 0:
            active.scores.append(score)
            recent = active.scores
            settled = len(recent) == recent.maxlen and max(recent) - min(recent) < options.settle_z
            if settled and frame - active.onset > options.frames(options.max_micro_s):
                self.state.neutral.clear()
                return self._finish(frame)
        return None

    def _finish(self, offset: int) -> Event | None:
        options, state, active = self.options, self.state, self.state.active
        state.active = None
        state.mode = "refractory"
        state.quiet_until = offset + options.frames(options.refractory_s)
        state.idle_frames = 0
        duration_s = self.duration_s(active.onset, offset)
        peak = {view: p for (view, band), p in active.peak.items() if band == active.peak_band}
        if duration_s < options.min_event_s or not peak:
            return None
        return Event(
            onset_frame=active.onset,
            offset_frame=offset,
            apex_frame_by_view={v: p[1] for v, p in peak.items()},
            kind="micro" if duration_s <= options.max_micro_s else "macro",
            band=active.peak_band,
            peak_z_by_view={v: round(p[2], 3) for v, p in peak.items()},
            peak_intensity_by_view={v: round(p[0], 3) for v, p in peak.items()},
            reference_frame=active.reference,
        )
