"""The source-spec grammar: an ordered registry of the kinds of source a command-line string can
name, each with how it is recognised and how it is opened. The first kind that recognises a spec
opens it; a path that is none of them is refused by name."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mer_live.corpora.replay import DatasetSource
from mer_live.stream.folders import has_frames
from mer_live.stream.frames import IMAGE_FPS
from mer_live.stream.sources import (
    CAMERA_FPS_HINT,
    URL_PATTERN,
    VIDEO_SUFFIXES,
    CameraSource,
    ImageFolderSource,
    Source,
    SourceError,
    VideoFileSource,
)
from mer_live.stream.stereo import STEREO_SPEC, open_stereo
from mer_live.synth.source import open_synthetic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenOptions:
    fps: float | None = None  # overrides the source's own rate
    decode_scale: int = 1  # decode images and video at 1/N size
    allow_single_view: bool = False  # a stereo rig goes on with one camera when the other is lost


@dataclass(frozen=True)
class SourceKind:
    name: str
    recognises: Callable[[str], bool]
    opens: Callable[[str, OpenOptions], Source]


def _path(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(f"source does not exist: {path}")
    return path


def _open_video(text: str, options: OpenOptions) -> Source:
    path = _path(text)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise SourceError(f"not a video file ({', '.join(VIDEO_SUFFIXES)}): {path}")
    return VideoFileSource(path, options.fps, options.decode_scale)


def _is_folder_of(frames: bool) -> Callable[[str], bool]:
    def recognises(text: str) -> bool:
        path = Path(text).expanduser()
        return path.is_dir() and has_frames(path) == frames

    return recognises


SOURCE_KINDS: tuple[SourceKind, ...] = (
    SourceKind(
        "stereo rig (camera:A+B or A+B)",
        lambda text: STEREO_SPEC.match(text) is not None,
        lambda text, o: open_stereo(text, o.fps, o.allow_single_view),
    ),
    SourceKind(
        "camera (an index or an rtsp/http(s) URL)",
        lambda text: text.isdigit() or URL_PATTERN.match(text) is not None,
        lambda text, o: CameraSource(int(text) if text.isdigit() else text, fps_hint=o.fps or CAMERA_FPS_HINT),
    ),
    SourceKind(
        "synthetic stream (synthetic or synthetic:SEED)",
        lambda text: text == "synthetic" or text.startswith("synthetic:"),
        lambda text, o: open_synthetic(text, o.fps),
    ),
    SourceKind(
        "image folder (numbered images)",
        _is_folder_of(frames=True),
        lambda text, o: ImageFolderSource(Path(text).expanduser(), o.fps or IMAGE_FPS, o.decode_scale),
    ),
    SourceKind(
        "dataset (a 4DME-layout root: <sub_ID>/<fold_name>/ frame folders)",
        _is_folder_of(frames=False),
        lambda text, o: DatasetSource(Path(text).expanduser(), o.fps, o.decode_scale),
    ),
    SourceKind("video file", lambda text: True, _open_video),
)


def open_source(spec: str, fps: float | None = None, decode_scale: int = 1, allow_single_view: bool = False) -> Source:
    """The source `spec` names (SOURCE_KINDS, first match); `fps` overrides the source's own rate."""
    text = str(spec).strip()
    options = OpenOptions(fps, decode_scale, allow_single_view)
    kind = next(kind for kind in SOURCE_KINDS if kind.recognises(text))
    log.debug("%s: a %s", text, kind.name)
    return kind.opens(text, options)
