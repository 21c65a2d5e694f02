"""`mer stream` / `mer calibrate` as a user meets them: bad setup refused in one line before any
work, a missing path named, Ctrl-C mid-run, a video cut short. (What kill -9 may lose: the event
log's durability test in tests/test_scoring_sinks.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_video

REPO = Path(__file__).resolve().parents[1]


def _mer_in_process(args, capsys) -> tuple[int, str]:
    """`mer ARGS` run in this process (no interpreter to start): its exit code and stderr. An
    exception that escapes main() fails the test, as a traceback would."""
    from mer_live.cli.main import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exit:  # argparse refuses an option this way
        code = exit.code
    return code, capsys.readouterr().err


def _mer(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "mer_live", *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=timeout
    )


@pytest.mark.parametrize(
    "case",
    [
        "face model",
        "fps nan",
        "seconds nan",
        "seconds 0",
        "profile list",
        "events unwritable",
        "calibrate out unwritable",
        "k_low over k_high",
        "config field",
        "config not an object",
        "config not json",
        "train config field",
        "threshold 1.5",
        "epochs 0",
        "freeze without init",
        "init with another architecture",
        "init not a checkpoint",
        "init in ablate",
    ],
)
def test_bad_setup_exits_2_with_one_line_before_any_work(tmp_path, case, capsys):
    """Each used to end in a traceback, a hang, exit 0 or a calibration thrown away at save."""
    video = write_video(tmp_path / "clip.avi")
    locked = tmp_path / "a-file"  # its "children" cannot be written (chmod means nothing to root)
    locked.write_text("")
    profile = tmp_path / "profile.json"
    profile.write_text("[1, 2]")
    config = tmp_path / "bad.json"
    config.write_text('{"spotter": {"k_low": -1}}')
    broken = tmp_path / "broken.json"
    broken.write_text('{"spotter": ')
    train_config = tmp_path / "train.json"
    train_config.write_text('{"lr": 2}')
    args, named = {
        "face model": (["stream", video, "--face-model", tmp_path / "none.tflite"], "none.tflite"),
        "fps nan": (["stream", video, "--fps", "nan"], "--fps"),
        "seconds nan": (["calibrate", video, "--seconds", "nan"], "--seconds"),
        "seconds 0": (["calibrate", video, "--seconds", "0"], "--seconds"),
        "profile list": (["stream", video, "--no-model", "--profile", profile], "profile.json"),
        "events unwritable": (["stream", video, "--no-model", "--events", locked / "e.jsonl"], "e.jsonl"),
        "calibrate out unwritable": (["calibrate", video, "--out", locked / "p.json"], "p.json"),
        "k_low over k_high": (["stream", video, "--no-model", "--k-low", "5"], "k_low < k_high"),
        "config field": (
            ["spot", tmp_path, "--no-model", "--out", tmp_path / "s.csv", "--config", config],
            "bad.json: spotter.k_low",
        ),
        "config not an object": (["calibrate", video, "--config", profile], "profile.json"),
        "config not json": (["stream", video, "--no-model", "--config", broken], "broken.json: not a readable JSON"),
        "train config field": (
            ["train", tmp_path, "--out", tmp_path / "m.pt", "--config", train_config],
            "train.json: lr",
        ),
        "threshold 1.5": (["calibrate", video, "--threshold", "1.5"], "decision_threshold"),
        "epochs 0": (["train", tmp_path, "--out", tmp_path / "m.pt", "--epochs", "0"], "epochs"),
        "freeze without init": (["train", tmp_path, "--out", tmp_path / "m.pt", "--freeze", "block1"], "--init"),
        "init with another architecture": (
            ["train", tmp_path, "--out", tmp_path / "m.pt", "--init", profile, "--no-se"],
            "--no-se",
        ),
        "init not a checkpoint": (["train", tmp_path, "--out", tmp_path / "m.pt", "--init", profile], "profile.json"),
        "init in ablate": (["ablate", tmp_path, "--init", profile], "--init"),
    }[case]
    code, stderr = _mer_in_process(args, capsys)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert named in last, last


def test_missing_path_exits_2_with_a_message(tmp_path):
    missing = tmp_path / "nowhere"
    result = subprocess.run(
        [sys.executable, "-m", "mer_live", "stream", str(missing), "--no-model"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr and str(missing) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not (REPO.parent / "shared" / "realvideo").is_dir(), reason="no real videos (CI has ../shared)")
def test_a_full_disk_is_a_failure_not_a_usage_error(capsys):
    """Exit 2 is for what the user got wrong; a disk that fills (/dev/full) is exit 1, the file named."""
    from mer_live.cli.main import EXIT_FAILED, main

    video = REPO.parent / "shared" / "realvideo" / "evm_face2.mp4"
    assert main(["calibrate", str(video), "--views", "1", "--seconds", "2", "--out", "/dev/full"]) == EXIT_FAILED
    assert capsys.readouterr().err.strip() == "mer: error: [Errno 28] No space left on device: '/dev/full'"


@pytest.mark.parametrize(
    "summary, says",
    [
        ({"events_not_written": {"JsonlSink(/dev/full)": 3}}, "not written: 3 to"),
        ({"failure": "no frame from camera 0 for 5 s"}, "ended early"),
    ],
)
def test_a_run_that_lost_events_or_broke_is_a_failure_not_a_usage_error(summary, says):
    """main() turns StreamFailed into exit 1 (the cut video below); lost events are one too, not exit 2."""
    from mer_live.cli.common import StreamFailed, UserError
    from mer_live.cli.live import _check_run

    with pytest.raises(StreamFailed, match=says) as raised:
        _check_run(summary)
    assert not isinstance(raised.value, UserError)


@pytest.mark.slow
def test_ctrl_c_ends_with_the_summary_and_exit_130(tmp_path):
    """An interrupted Thread.join once let the interpreter exit under MediaPipe's running threads
    (`terminate called without an active exception`, exit 134) after printing a summary and exit 0."""
    # a shell's background job (a CI runner's, say) starts with SIGINT ignored, and Python then never
    # turns it into KeyboardInterrupt: the child gets the default disposition back, as a terminal's has
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mer_live",
            "stream",
            "synthetic:4",
            "--no-model",
            "--quiet",
            "--events",
            str(tmp_path / "e.jsonl"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(12)  # well into the stream: the engine's threads are busy
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert json.loads(out)["ended"] == "interrupted (Ctrl-C)"
    assert err.strip().splitlines()[-1] == "mer: interrupted" and "terminate called" not in err


@pytest.mark.slow
def test_a_video_cut_short_exits_1_naming_where_it_broke(tmp_path):
    video = write_video(tmp_path / "cut.avi", frames=60)
    with open(video, "r+b") as handle:
        handle.truncate(video.stat().st_size // 2)
    result = _mer("stream", video, "--no-model", "--quiet", "--events", tmp_path / "e.jsonl")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["failure"].startswith("cut.avi: read failed at frame") and summary["processed"] > 0
    # (FFmpeg's own complaint about the cut frame may share the line: its native stderr is not ours)
    assert "mer: error: the stream ended early: cut.avi" in result.stderr.strip().splitlines()[-1]
    whole = _mer(
        "stream", write_video(tmp_path / "whole.avi"), "--no-model", "--quiet", "--events", tmp_path / "f.jsonl"
    )
    assert whole.returncode == 0 and json.loads(whole.stdout)["ended"] == "end of file"
