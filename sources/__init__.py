"""What a source spec names: `open_source("0")`, `open_source("camera:0+1")`, a video, a folder, a
dataset root, `open_source("synthetic:3")`. Above the layers that define the sources (stream/,
corpora/, synth/), so none of them reaches up to another's."""

from mer_live.sources.spec import SOURCE_KINDS, SourceKind, open_source

__all__ = ["SOURCE_KINDS", "SourceKind", "open_source"]
