"""The `mer` command line, one module per part: `main` (the entry point: exit codes), `parser` (every
subcommand and its options), `offline` (synth, inject, extract, train, evaluate, ablate), `live` (stream,
demo, spot, score-spots, calibrate, bench, ui) and `common` (errors, argument types, output checks).
Heavy libraries (torch, MediaPipe, Gradio, Ray) are imported inside the commands, so `mer --help` stays quick."""

import os

# numpy's OpenBLAS threads spin between calls; the per-frame fits are small (1600 × 3) and the engine's
# own threads already fill the cores. One BLAS thread, set before numpy loads, cut the live pipeline's
# CPU per camera-size frame from 22 to 16 ms on two cores (torch's own threads are not affected).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
