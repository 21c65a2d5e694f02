"""Batches on Ray (`mer spot|extract DATA --ray`): the same files, rows and numbers as the run on one
machine; a failed task tried once more, then named; detectors and classifier kept per worker."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import long_recordings

ray = pytest.importorskip("ray", reason="the Ray extra is not installed (pip install 'mer-live[ray]'; CI installs it)")

from mer_live.cli.main import main  # noqa: E402
from mer_live.model import SHIPPED_WEIGHTS  # noqa: E402
from mer_live.model.batch import BatchError, check_reachable, kept_classifier, kept_detectors, run_on_ray  # noqa: E402

pytestmark = pytest.mark.slow  # make test-fast leaves this module out


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    """One local Ray of two CPUs for the module (starting one takes seconds); the batches use it."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test module's tasks, for the workers
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="WARNING",
        _temp_dir=str(tmp_path_factory.mktemp("ray")),
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def two_recordings(tmp_path_factory) -> Path:
    return long_recordings(tmp_path_factory.mktemp("long2"), per_subject=2, seconds=8.0)


def test_spot_on_ray_writes_the_same_spots_and_events_as_the_plain_run(two_recordings, tmp_path, capsys):
    outputs = {}
    for run, extra in (("plain", []), ("ray", ["--ray"])):
        spots, events = tmp_path / f"{run}.csv", tmp_path / f"{run}.jsonl"
        assert main(["spot", str(two_recordings), "--quiet", "--out", str(spots), "--events", str(events), *extra]) == 0
        summary = json.loads(capsys.readouterr().out)
        outputs[run] = spots.read_bytes(), [json.loads(line) for line in events.read_text().splitlines()], summary
    (plain_csv, plain_events, plain), (ray_csv, ray_events, on_ray) = outputs["plain"], outputs["ray"]
    assert ray_csv == plain_csv and plain_csv.count(b"\n") > 1  # identical, and with spots in it
    varying = ("run_id", "latency_ms")  # told apart per run and per machine load
    assert [{k: v for k, v in e.items() if k not in varying} for e in ray_events] == [
        {k: v for k, v in e.items() if k not in varying} for e in plain_events
    ]
    numbered = [e["event_id"] for e in ray_events if e["kind"] != "face_state"]
    assert numbered == list(range(1, len(numbered) + 1)) and len(numbered) < len(ray_events)  # states in between
    assert len({e["run_id"] for e in ray_events}) == 1
    for key in ("processed", "recordings", "events", "dropped", "score"):
        assert on_ray[key] == plain[key]
    assert on_ray["tasks"] == 2 and on_ray["failed"] == {} and on_ray["retried"] == []


def test_extract_on_ray_caches_the_same_features_and_reports_the_same_numbers(tmp_path, capsys):
    from mer_live.synth import generate_dataset

    root = tmp_path / "clips"
    generate_dataset(root, subjects=1, per_subject=3, seed=12, workers=1, progress=False)
    reports = {}
    for run, extra in (("plain", ["--workers", "1"]), ("ray", ["--ray"])):
        assert main(["extract", str(root), "--cache", str(tmp_path / run), *extra]) == 0
        reports[run] = json.loads(capsys.readouterr().out)
    assert reports["ray"] == reports["plain"] and reports["plain"]["extracted"] == 3
    cached = {run: sorted((tmp_path / run).rglob("*.npz")) for run in ("plain", "ray")}
    assert [p.name for p in cached["ray"]] == [p.name for p in cached["plain"]] and cached["plain"]
    for a, b in zip(cached["plain"], cached["ray"]):
        with np.load(a) as left, np.load(b) as right:
            assert sorted(left.files) == sorted(right.files)
            for name in left.files:
                np.testing.assert_array_equal(left[name], right[name])


def fails_on_first_try(item):
    """A task that fails the first time it sees `item` (a marker file remembers), then succeeds."""
    marker, value = item
    if not Path(marker).exists():
        Path(marker).touch()
        raise RuntimeError("flaky")
    return value * 2


def fails_always(item):
    if item == "bad":
        raise ValueError(f"recording {item} cannot be read")
    return item


def test_a_failed_task_is_tried_once_more(tmp_path):
    items = [(str(tmp_path / f"marker{i}"), i) for i in range(3)]
    outcome = run_on_ray(fails_on_first_try, items, ["a", "b", "c"], "test")
    assert outcome.results == [0, 2, 4] and sorted(outcome.retried) == ["a", "b", "c"] and outcome.failed == {}


def test_a_task_failing_twice_is_named_with_its_reason_and_the_others_still_finish():
    outcome = run_on_ray(fails_always, ["ok", "bad", "fine"], ["s01/a", "s01/b", "s02/c"], "test")
    assert outcome.results == ["ok", None, "fine"]
    assert outcome.retried == ["s01/b"]
    assert outcome.failed == {"s01/b": "ValueError: recording bad cannot be read"}


def test_a_worker_keeps_its_detectors_and_classifier_across_tasks():
    first, second = kept_detectors(None), kept_detectors(None)
    views_first, views_second = [first(), first()], [second(), second()]
    assert [d.detect.__self__ for d in views_first] == [d.detect.__self__ for d in views_second]
    assert views_first[0].detect.__self__ is not views_first[1].detect.__self__  # one per view
    assert not hasattr(views_first[0], "close")  # an engine run's shutdown leaves them open
    assert kept_classifier(str(SHIPPED_WEIGHTS)) is kept_classifier(str(SHIPPED_WEIGHTS))
    assert kept_classifier(None) is None


def test_spot_on_ray_refuses_a_single_recording_in_one_line(two_recordings, tmp_path, capsys):
    folder = next(p for p in (two_recordings / "s01").iterdir() if p.is_dir())
    assert main(["spot", str(folder), "--no-model", "--quiet", "--out", str(tmp_path / "s.csv"), "--ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "one task per recording of a dataset root" in err[0]


@pytest.mark.parametrize("form", ["{}", "ray://{}"])
def test_an_address_that_takes_no_connection_is_refused_at_once(form):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        address = form.format(f"127.0.0.1:{unused.getsockname()[1]}")
        with pytest.raises(BatchError, match=f"^cannot reach the Ray cluster at {address}: "):
            check_reachable(address)
