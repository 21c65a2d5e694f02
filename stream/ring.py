"""A bounded ring of per-view face crops: memory is fixed at construction, whatever the stream length."""

from __future__ import annotations

import numpy as np


class CropRing:
    """The last `capacity` frames' gray crops per view: feature-size (224²) and spot-size.

    Arrays are preallocated; a slot is found from a source frame number through a small dict that
    forgets numbers as their slots are overwritten.
    """

    def __init__(self, capacity: int, n_views: int, feature_size: int, spot_size: int):
        if capacity < 2:
            raise ValueError(f"ring capacity must be ≥ 2 frames, got {capacity}")
        self.capacity = capacity
        self.features = np.zeros((capacity, n_views, feature_size, feature_size), np.uint8)
        self.spots = np.zeros((capacity, n_views, spot_size, spot_size), np.uint8)
        self.valid = np.zeros((capacity, n_views), bool)
        self.windows = np.zeros((capacity, n_views), np.int64)  # crop-window serial of each stored crop
        self.new = np.zeros((capacity, n_views), bool)  # a new picture, not a repeat of the one before
        self.frames = np.full(capacity, -1, np.int64)
        self.times = np.zeros(capacity, np.float64)
        self._slot_of: dict[int, int] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def push(
        self,
        frame: int,
        t_s: float,
        view: int,
        feature_crop: np.ndarray,
        spot_crop: np.ndarray,
        window: int = 0,
        new: bool = True,
    ) -> None:
        """Store one view's crops of `frame`; the first view of a new frame claims the next slot.
        `new`: the picture is not a repeat of the one before it."""
        slot = self._slot_of.get(frame)
        if slot is None:
            slot = self._next
            self._next = (slot + 1) % self.capacity
            self._slot_of.pop(int(self.frames[slot]), None)
            self._slot_of[frame] = slot
            self.frames[slot] = frame
            self.times[slot] = t_s
            self.valid[slot] = False
        self.features[slot, view] = feature_crop
        self.spots[slot, view] = spot_crop
        self.windows[slot, view] = window
        self.new[slot, view] = new
        self.valid[slot, view] = True

    def slot(self, frame: int, view: int) -> int | None:
        slot = self._slot_of.get(frame)
        return slot if slot is not None and self.valid[slot, view] else None

    def at_or_before(self, frame: int, view: int, window: int) -> int | None:
        """The newest stored frame number ≤ `frame` holding `view` cropped by `window` (numbers may have gaps)."""
        candidates = [
            f
            for f, s in self._slot_of.items()
            if f <= frame and self.valid[s, view] and self.windows[s, view] == window
        ]
        return max(candidates) if candidates else None

    def clear(self) -> None:
        self._slot_of.clear()
        self.valid[:] = False
        self.frames[:] = -1

    def feature_crop(self, frame: int, view: int) -> np.ndarray | None:
        slot = self.slot(frame, view)
        return None if slot is None else self.features[slot, view].copy()

    def spot_crop(self, frame: int, view: int) -> np.ndarray | None:
        slot = self.slot(frame, view)
        return None if slot is None else self.spots[slot, view]

    def time_of(self, frame: int) -> float | None:
        slot = self._slot_of.get(frame)
        return None if slot is None else float(self.times[slot])

    def new_frames(self, first: int, last: int, view: int, window: int) -> list[int]:
        """The stored new pictures of `view` in `window` with frame numbers first…last, in order."""
        return sorted(
            f
            for f, s in self._slot_of.items()
            if first <= f <= last and self.valid[s, view] and self.new[s, view] and self.windows[s, view] == window
        )

    def nearest(self, frame: int, view: int, window: int) -> int | None:
        """The stored frame closest to `frame` holding `view` cropped by `window`."""
        candidates = [f for f, s in self._slot_of.items() if self.valid[s, view] and self.windows[s, view] == window]
        return min(candidates, key=lambda f: abs(f - frame)) if candidates else None

    @property
    def nbytes(self) -> int:
        return self.features.nbytes + self.spots.nbytes
