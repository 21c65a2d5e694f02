"""`mer bench`: the live pipeline's speed, latency and memory on generated frames (`live`), and the
spotter on real face videos with injected expressions (`real`). Above every other layer; nothing imports it."""
