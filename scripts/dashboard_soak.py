"""The dashboard server under long and rough use, driven through its API as a page would be.

    python scripts/dashboard_soak.py soak   --minutes 60 --out DIR     start/pause/resume/calibrate/stop cycles
    python scripts/dashboard_soak.py burst  --calls 400 --out DIR      concurrent start/stop/pause/resume calls
    python scripts/dashboard_soak.py upload VIDEO --minutes 10 --calibrate-at 9 --out DIR

Each runs `mer ui` as a child process (no autostart) and samples its resident memory and thread
count from /proc every few seconds; DIR gets `<mode>.json` (samples and verdicts) and, for the soak,
`soak.png` (threads and RSS over time). Not part of `make test`: these take minutes to an hour.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIEWS = "2 (side by side)"


class Server:
    """`mer ui` in a child process, with its /proc figures."""

    def __init__(self, out: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = open(out / "server.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mer_live", "ui", "--port", str(self.port), "--session-dir", str(out / "session")],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        from gradio_client import Client

        deadline = time.monotonic() + 180
        while True:
            try:
                self.client = Client(self.url, verbose=False)
                break
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"the server did not come up; see {out / 'server.log'}") from None
                time.sleep(1)
        self.started = time.monotonic()
        self.samples: list[dict] = []
        self._stop = threading.Event()

    def figures(self) -> dict:
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                fields[key] = int(value.split()[0])
        return {
            "t_s": round(time.monotonic() - self.started, 1),
            "rss_mb": round(fields["VmRSS"] / 1024, 1),
            "threads": fields["Threads"],
        }

    def thread_names(self) -> dict[str, int]:
        """Threads by name (what the kernel shows: 15 characters, digits folded to #)."""
        names = Counter()
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                names["".join("#" if c.isdigit() else c for c in (task / "comm").read_text().strip())] += 1
            except OSError:  # the thread ended meanwhile
                pass
        return dict(names.most_common())

    def sample_every(self, seconds: float) -> threading.Thread:
        def run():
            while not self._stop.wait(seconds):
                self.samples.append(self.figures())

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def call(self, api: str, *args):
        """The endpoint's answer, or the error's text (a refused control is an answer too)."""
        try:
            return self.client.predict(*args, api_name=f"/{api}")
        except Exception as exc:
            return f"error: {exc}"

    def wait_stopped(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.call("status")["running"] and time.monotonic() < deadline:
            time.sleep(0.5)

    def settled(self, seconds: float = 10.0) -> dict:
        """Median figures over `seconds` of quiet."""
        taken = []
        for _ in range(int(seconds)):
            time.sleep(1)
            self.call("status")  # as the page's refresh does (it also lets the server retire idle workers)
            taken.append(self.figures())
        return {
            "rss_mb": float(np.median([t["rss_mb"] for t in taken])),
            "threads": int(np.median([t["threads"] for t in taken])),
            "thread_names": self.thread_names(),
        }

    def close(self) -> None:
        self._stop.set()
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def warm_up(server: Server) -> dict:
    """One start/stop of each source kind used, so models, detectors and the synthetic face are
    loaded once; then the idle figures."""
    for kind, value in (("demo", ""), ("synthetic", "1")):
        server.call("start", kind, value, None, VIEWS)
        time.sleep(8)
        server.call("stop")
        server.wait_stopped()
    return server.settled()


def within(after: dict, idle: dict, tolerance: float = 0.10) -> dict:
    return {
        key: {
            "idle": idle[key],
            "after": after[key],
            "ratio": round(after[key] / idle[key], 3),
            "within_10_percent": after[key] <= idle[key] * (1 + tolerance),
        }
        for key in ("rss_mb", "threads")
    }


def run_soak(server: Server, minutes: float, out: Path) -> dict:
    rng = random.Random(0)
    idle = warm_up(server)
    server.sample_every(5.0)
    cycles, answers = 0, []
    while time.monotonic() - server.started < minutes * 60:
        cycles += 1
        spec = rng.choice([("demo", ""), ("synthetic", str(rng.randrange(10)))])
        answers.append(server.call("start", spec[0], spec[1], None, VIEWS))
        time.sleep(rng.uniform(2, 8))
        answers.append(server.call("pause"))
        time.sleep(rng.uniform(0.5, 2))
        answers.append(server.call("resume"))
        time.sleep(rng.uniform(1, 4))
        if cycles % 4 == 0:
            answers.append(server.call("calibrate", 2))
        answers.append(server.call("stop"))
        time.sleep(1)
    server.wait_stopped()
    after = server.settled()
    samples = server.samples
    late = [s for s in samples if s["t_s"] >= 60 + samples[0]["t_s"]]
    t = np.array([s["t_s"] for s in late]) / 60.0
    slope = float(np.polyfit(t, [s["rss_mb"] for s in late], 1)[0]) if len(late) > 2 else None
    plot(samples, out / "soak.png", minutes)
    errors = [a for a in answers if isinstance(a, str) and a.startswith("error")]
    return {
        "minutes": minutes,
        "cycles": cycles,
        "calls": len(answers),
        "errors": len(errors),
        "first_errors": errors[:5],
        "idle_after_warm_up": idle,
        "after": after,
        "vs_idle": within(after, idle),
        "after_first_minute": {
            "rss_mb_min": min(s["rss_mb"] for s in late),
            "rss_mb_max": max(s["rss_mb"] for s in late),
            "rss_slope_mb_per_min": None if slope is None else round(slope, 3),
            "threads_min": min(s["threads"] for s in late),
            "threads_max": max(s["threads"] for s in late),
        },
        "samples": samples,
    }


def plot(samples: list[dict], path: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60 for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    top.plot(t, [s["rss_mb"] for s in samples], color="tab:blue")
    top.set_ylabel("resident memory (MB)")
    top.set_ylim(bottom=0)
    bottom.plot(t, [s["threads"] for s in samples], color="tab:orange")
    bottom.set_ylabel("threads")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("minutes")
    for axis in (top, bottom):
        axis.axvline(1.0, color="grey", lw=0.8, ls="--")
        axis.grid(alpha=0.3)
    top.set_title(f"mer ui under {minutes:g} min of start / pause / resume / calibrate / stop (dashed: first minute)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_burst(server: Server, calls: int) -> dict:
    rng = random.Random(1)
    idle = warm_up(server)
    plan = [rng.choice(["start", "start", "stop", "pause", "resume"]) for _ in range(calls)]
    args = {"start": ("synthetic", "1", None, VIEWS), "stop": (), "pause": (), "resume": ()}
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda name: server.call(name, *args[name]), plan))
    seconds = time.monotonic() - started
    peak = server.figures()
    server.call("stop")
    server.wait_stopped()
    after = server.settled(15)
    errors = [a for a in answers if isinstance(a, str) and a.startswith("error")]
    return {
        "calls": calls,
        "seconds": round(seconds, 1),
        "errors": len(errors),
        "first_errors": errors[:5],
        "idle_after_warm_up": idle,
        "peak": peak,
        "after": after,
        "vs_idle": within(after, idle),
    }


def run_upload(server: Server, video: Path, minutes: float, calibrate_at: float) -> dict:
    """Upload once (as the page does), then press Start whenever the replay ends, and Calibrate at
    `calibrate_at` minutes: Gradio deletes its own copy of the upload about 3 minutes in."""
    import httpx

    with open(video, "rb") as handle:
        response = httpx.post(server.url + "gradio_api/upload", files={"files": (video.name, handle)})
    response.raise_for_status()
    gradio_copy = response.json()[0]
    upload = {"path": gradio_copy, "orig_name": video.name, "meta": {"_type": "gradio.FileData"}}
    log, calibrated = [], None
    began = time.monotonic()
    while (elapsed := (time.monotonic() - began) / 60) < minutes:
        if calibrated is None and elapsed >= calibrate_at:
            calibrated = {"minute": round(elapsed, 2), "answer": server.call("calibrate", 5)}
        elif not server.call("status")["running"]:
            log.append({"minute": round(elapsed, 2), "answer": server.call("start", "video file", "", upload, "1")})
        time.sleep(2)
    server.call("stop")
    starts_ok = [e for e in log if isinstance(e["answer"], str) and e["answer"].startswith("started")]
    return {
        "video": video.name,
        "minutes": minutes,
        "starts": len(log),
        "starts_ok": len(starts_ok),
        "failed_starts": [e for e in log if e not in starts_ok][:5],
        "calibration": calibrated,
        "gradio_copy_still_there": Path(gradio_copy).exists(),
        "log": log,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["soak", "burst", "upload"])
    parser.add_argument("video", nargs="?", type=Path, help="the video to upload (upload mode)")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--calibrate-at", type=float, default=9.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.mode == "upload" and (args.video is None or not args.video.is_file()):
        parser.error("upload mode needs a video file")
    args.out.mkdir(parents=True, exist_ok=True)
    server = Server(args.out)
    try:
        if args.mode == "soak":
            report = run_soak(server, args.minutes, args.out)
        elif args.mode == "burst":
            report = run_burst(server, args.calls)
        else:
            report = run_upload(server, args.video, args.minutes, args.calibrate_at)
    finally:
        server.close()
    (args.out / f"{args.mode}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k not in ("samples", "log")}, indent=2))


if __name__ == "__main__":
    main()
