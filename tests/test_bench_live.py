"""`mer bench` (speed and memory): the report holds each measure, computed on a short generated
recording. Speeds are printed, never asserted (they are the machine's, not the code's)."""

from __future__ import annotations

import pytest

from mer_live.bench.live import OWN_RATE_MARGIN, run_bench
from mer_live.model import SHIPPED_WEIGHTS
from mer_live.model.predictor import Predictor

pytestmark = pytest.mark.slow


def test_the_bench_measures_decode_pipeline_latency_and_memory(tmp_path):
    report = run_bench(Predictor.from_checkpoint(SHIPPED_WEIGHTS), tmp_path, seconds=8, soak_s=2, kinds=("camera",))
    camera = report["camera"]
    assert camera["frames"] == 480  # 8 s at the generator's 60 fps
    assert camera["decode_fps"] > 0 and camera["pipeline_fps"] > 0 and camera["paper_style_fps"] > 0
    assert camera["pipeline_vs_decode"] == pytest.approx(camera["pipeline_fps"] / camera["decode_fps"], rel=0.01)
    assert camera["soak"]["seconds_of_video"] == 2 and camera["soak"]["rss_end_mb"] > 100
    inference = report["model_inference_ms"]
    assert 0 < inference["median"] <= inference["p95"] and inference["repeats"] == 200
    if camera["events"]:  # a classified event's latency is measured from its confirmed offset
        assert camera["latency_ms"]["n"] >= 1 and camera["latency_ms"]["p50"] > 0
    paced = camera["latency_at_own_rate_ms"]  # replayed at its 60 fps: measured where max speed is above it
    assert (paced is not None) == (camera["pipeline_fps"] > OWN_RATE_MARGIN * 60)
    if paced is not None and camera["events"]:
        assert paced["n"] >= 1 and paced["p50"] > 0
