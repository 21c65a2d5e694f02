"""Recorded data as live streams: a dataset root replayed recording after recording, and
`open_source`, which turns any source spec (camera, stereo rig, video, folder, dataset root,
synthetic stream) into a Source.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mer_live.corpora.fourdme import DatasetInfo, recordings
from mer_live.stream.folders import DatasetError, has_frames
from mer_live.stream.sources import (
    URL_PATTERN,
    VIDEO_SUFFIXES,
    CameraSource,
    ImageFolderSource,
    Item,
    Source,
    SourceError,
    VideoFileSource,
)
from mer_live.stream.stereo import open_stereo


class DatasetSource(Source):
    """A whole 4DME-layout root replayed as one stream, recording after recording in sorted order.

    Each frame's `source` names its recording ("<sub_ID>/<fold_name>") and its `index`/`t_s` are
    the recording's own, so a new recording starts where `frame.source` changes (and `t_s` restarts).
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
                folder, fps or self.info.fps_of(f"{folder.parent.name}/{folder.name}", 60.0), decode_scale
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


def open_source(spec: str, fps: float | None = None, decode_scale: int = 1, allow_single_view: bool = False) -> Source:
    """The source a command-line string names.

    "0" (any integer) or an rtsp/http(s) URL → camera; "camera:0+1" (or "0+1") → a stereo rig of two
    cameras (`allow_single_view`: it goes on with one when the other is lost); "synthetic" or
    "synthetic:SEED" → synthetic stream; a video file → video; a folder holding images → image folder; a folder of
    <sub_ID>/<fold_name>/ frame folders → dataset. `fps` overrides the source's own rate.
    """
    text = str(spec).strip()
    rig = open_stereo(text, fps, allow_single_view)
    if rig is not None:
        return rig
    if text.isdigit() or URL_PATTERN.match(text):
        return CameraSource(int(text) if text.isdigit() else text, fps_hint=fps or 30.0)
    if text == "synthetic" or text.startswith("synthetic:"):
        from mer_live.synth.source import (
            open_synthetic,  # the data tooling sits above corpora/: imported when asked for
        )

        return open_synthetic(text, fps)
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"source does not exist: {path}")
    if path.is_file():
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise SourceError(f"not a video file ({', '.join(VIDEO_SUFFIXES)}): {path}")
        return VideoFileSource(path, fps, decode_scale)
    if has_frames(path):
        return ImageFolderSource(path, fps or 60.0, decode_scale)
    return DatasetSource(path, fps, decode_scale)
