"""The `mer` command line itself: its parser, what `mer --help` imports, the dashboard's options."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UI_OPTIONS = (
    "--source",
    "--model",
    "--profile",
    "--host",
    "--port",
    "--auth",
    "--views",
    "--session-dir",
    "--data-root",
    "--autostart",
    "--config",
    "--threshold",
    "--k-high",
)


def _mer(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mer_live", *args], capture_output=True, text=True, cwd=REPO, timeout=120, env=env
    )


def test_building_the_parser_imports_no_heavy_library():
    """`mer --help` stays quick: torch, Gradio, MediaPipe and Ray are imported by the commands that use them."""
    probe = (
        "import sys; from mer_live.cli.parser import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'gradio', 'mediapipe', 'ray') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_mer_ui_is_a_subcommand_with_the_dashboard_options():
    result = _mer("ui", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: mer ui")
    assert all(option in result.stdout for option in UI_OPTIONS)


def test_a_malformed_auth_exits_2_without_echoing_it():
    result = _mer("ui", env={**os.environ, "MER_AUTH": "secret-without-colon"})
    assert result.returncode == 2
    assert "user:password" in result.stderr.splitlines()[-1]
    assert "secret-without-colon" not in result.stderr


def test_pacing_is_one_setting_that_realtime_and_max_speed_write():
    from mer_live.cli.live import _engine_config
    from mer_live.cli.parser import build_parser

    parser = build_parser()
    read = lambda *flags: _engine_config(parser.parse_args(["stream", "clip.mp4", *flags])).realtime  # noqa: E731
    assert (read(), read("--realtime"), read("--max-speed")) == (False, True, False)
    assert _mer("stream", "clip.mp4", "--realtime", "--max-speed").returncode == 2  # not both


@pytest.mark.parametrize(
    "argv, named",
    [
        (["synth", "--demo", "--seed", "3"], "--seed: not used with --demo"),
        (["synth", "--demo", "--no-blinks", "--layout", "samm"], "--layout, --no-blinks: not used with --demo"),
        (["evaluate", ".", "--protocol", "loso", "--all"], "--all: not used with --protocol loso"),
        (["evaluate", ".", "--protocol", "composite", "--sweep-plot", "s.png"], "--sweep-plot: not used with"),
        (["evaluate", ".", "--epochs", "3"], "--epochs: not used with --protocol holdout"),
        (["evaluate", ".", "--device", "cpu", "--val-fraction", "0.3"], "--val-fraction, --device: not used"),
        (["bench", "--real", ".", "--seconds", "5", "--no-model"], "--no-model, --seconds: not used with --real"),
        (["bench", "--kinds", "calm"], "--kinds: not used without --real"),
        (["extract", ".", "--ray", "--workers", "4"], "--workers: not used with --ray"),
    ],
)
def test_an_option_that_would_be_ignored_is_refused_by_name(argv, named, capsys):
    from mer_live.cli.main import main

    assert main(argv) == 2
    assert named in capsys.readouterr().err


def test_debug_shows_the_traceback_of_an_error(capsys):
    from mer_live.cli.main import main

    assert main(["stream", "/nonexistent/clip.mp4", "--no-model"]) == 2
    plain = capsys.readouterr().err
    assert plain.strip() == "mer: error: source does not exist: /nonexistent/clip.mp4"
    assert main(["stream", "/nonexistent/clip.mp4", "--no-model", "--debug"]) == 2
    debug = capsys.readouterr().err
    assert "Traceback (most recent call last)" in debug and "raise SourceError" in debug
    assert debug.rstrip().endswith("mer: error: source does not exist: /nonexistent/clip.mp4")
