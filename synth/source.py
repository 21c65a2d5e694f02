"""The synthetic long recording as a frame source: what `open_source("synthetic:SEED")` opens.

Frames are rendered in memory (`synth.render.iter_long_stream`), so a live run needs no files and
knows every event it should find.
"""

from __future__ import annotations

from collections.abc import Iterator

from mer_live.stream.frames import Frame
from mer_live.stream.sources import Item, Source, SourceError
from mer_live.synth.plan import SynthConfig
from mer_live.synth.render import iter_long_stream


class SyntheticSource(Source):
    """The synthetic long recording of `synth.iter_long_stream`, rendered in memory.

    `events` holds its ground truth (frame numbers from 1, the same numbers as `Frame.index`);
    `t_s = index / fps` with fps from `config`. MediaPipe is loaded (once) when the source is made.
    """

    def __init__(self, seed: int = 0, seconds: float = 60, config: SynthConfig | None = None, faces_dir=None) -> None:
        config = config or SynthConfig()
        super().__init__(f"synthetic:{seed}", config.fps)
        self._stream = iter_long_stream(seed=seed, seconds=seconds, config=config, faces_dir=faces_dir)
        self.events = self._stream.events

    def _items(self) -> Iterator[Item]:
        for number, image in self._stream.frames():
            yield Frame(number, number / self.fps, image, self.name)


def open_synthetic(text: str, fps: float | None) -> SyntheticSource:
    """The source of "synthetic" (seed 0) or "synthetic:SEED"; `fps` overrides the generator's rate."""
    seed = text.partition(":")[2] or "0"
    if not seed.isdigit():
        raise SourceError(f"synthetic source wants an integer seed, as in synthetic:3, got {text!r}")
    return SyntheticSource(int(seed), config=SynthConfig(fps=round(fps)) if fps else None)
