"""The `mer` command line, one module per part: `main` (the entry point: exit codes), `parser` (every
subcommand and its options), `offline` (synth, inject, extract, train, evaluate, ablate), `live` (stream,
demo, spot, score-spots, calibrate, bench, ui) and `common` (errors, argument types, output checks).
Heavy libraries (torch, MediaPipe, Gradio, Ray) are imported inside the commands, so `mer --help` stays quick."""
