"""Synthetic data tooling: micro-expressions made with known truth, beside the real corpora.

Two ways to get data whose every event is known:

- generated faces (`generate_dataset`, `iter_long_stream`, the demo cache `ensure_demo_dataset`):
  a face photo deformed by action units, written in the 4DME layout or rendered in memory;
- real videos with expressions injected (`inject_videos`): the same action-unit fields riding on
  each frame's FaceMesh landmarks.

Modules, each importing only those listed before it: `faces` (photos, landmarks, subjects),
`actions` (action units, class recipes, displacement fields), `plan` (settings, events, sequence
specs, the plan of a dataset), `render` (frames and their JPEG bytes), `write` (datasets on disk, the
demo set), `inject` (real videos) and `source` (the `synthetic:SEED` frame source). Below the
package: `model` (the classes, the dataset format) and `stream` (frames, sources); `stream` reaches
this package only inside functions. Everything is a pure function of the seed; MediaPipe is
imported only when landmarks are needed.
"""

from mer_live.synth.inject import InjectConfig, inject_videos
from mer_live.synth.plan import SynthConfig
from mer_live.synth.render import iter_long_stream
from mer_live.synth.write import ensure_demo_dataset, generate_dataset

__all__ = [
    "InjectConfig",
    "SynthConfig",
    "ensure_demo_dataset",
    "generate_dataset",
    "inject_videos",
    "iter_long_stream",
]
