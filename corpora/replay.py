"""Recorded data as live streams: a dataset root replayed recording after recording
(`mer_live.sources.open_source` turns any source spec into a Source)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mer_live.corpora.fourdme import DatasetInfo, recordings
from mer_live.stream.folders import DatasetError, has_frames
from mer_live.stream.frames import IMAGE_FPS
from mer_live.stream.sources import (
    ImageFolderSource,
    Item,
    Source,
    SourceError,
)


class DatasetSource(Source):
    """A whole 4DME-layout root replayed as one stream, recording after recording in sorted order.

    Each frame's `source` names its recording ("<sub_ID>/<fold_name>") and its `index`/`t_s` are
    the recording's own, so a new recording starts where `frame.recording` changes (and `t_s` restarts).
    Folders that hold no frame files are skipped. A recording's frame rate is `fps` when given,
    else the one ROOT/dataset.json states for it, else 60; `fps_of` tells it, and `.fps` is the
    highest (what a frame ring must hold).
    """

    def __init__(
        self, root, fps: float | None = None, decode_scale: int = 1, folders: list[Path] | None = None
    ) -> None:
        """`folders`: the recordings to replay, when a dataset's reader found them (the long-video
        sets keep their frames below the root in their own layout)."""
        root = Path(root)
        try:
            if folders is None:
                folders = [folder for _, _, folder in recordings(root) if has_frames(folder)]
            self.info = DatasetInfo.read(root)
        except DatasetError as exc:
            raise SourceError(str(exc)) from None
        if not folders:
            raise SourceError(f"no frames in {root} (expected <sub_ID>/<fold_name>/<frames>)")
        self._parts = [
            ImageFolderSource(
                folder, fps or self.info.fps_of(f"{folder.parent.name}/{folder.name}", IMAGE_FPS), decode_scale
            )
            for folder in folders
        ]
        super().__init__(root.name, max(part.fps for part in self._parts))
        self.root = root

    @property
    def recordings(self) -> list[str]:
        """Names of the recordings in replay order."""
        return [part.name for part in self._parts]

    def per_recording(self) -> list[DatasetSource]:
        """One source per recording, each replaying it as this one does: its own rate in `fps_of`,
        and this source's `.fps`, so a frame ring holds as many frames."""
        parts = [DatasetSource(self.root, part.fps, part.decode_scale, [part.folder]) for part in self._parts]
        for part in parts:
            part.fps = self.fps
        return parts

    def fps_of(self, recording: str) -> float:
        return next((part.fps for part in self._parts if part.name == recording), self.fps)

    def _items(self) -> Iterator[Item]:
        for part in self._parts:
            yield from part._items()  # counted once, here
