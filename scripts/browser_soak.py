"""The dashboard under a long max-speed replay, in headless Chromium: does the page keep refreshing?

    python scripts/browser_soak.py MINUTES   (needs Chromium, see ui/browser.py; frames from `mer bench`'s cache)

Replays 4DME-size frames in a loop as fast as the engine takes them, with the page open, and prints
the browser's refresh intervals per minute, the server's timer intervals and event→page delays.
"""

import json
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from mer_live.bench.live import LoopingFolderSource, bench_frames
from mer_live.ui.app import build_app, launch
from mer_live.ui.browser import CHROMIUM, CHROMIUM_ARGS, TICK_OBSERVER
from mer_live.ui.session import Session

MINUTES = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
folder = bench_frames("4dme", 20.0, Path(os.environ.get("MER_CACHE", Path.home() / ".cache" / "mer-live")))
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
session = Session()
app = build_app(session, refresh_s=0.4)
_, url = launch(app, port=port, block=False)
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = b.new_page(viewport={"width": 1400, "height": 1500})
    page.goto(url)
    page.wait_for_selector("#start")
    page.evaluate(TICK_OBSERVER)
    # looping 4DME-size frames, unpaced: the Session's own recorded sources replay in real time
    session.start_source(LoopingFolderSource(folder, MINUTES * 60 * 3, decode_scale=2), views=2, realtime=False)
    t0 = time.monotonic()
    rows = []
    while time.monotonic() - t0 < MINUTES * 60:
        time.sleep(30)
        st = session.status()
        rows.append(
            (round(time.monotonic() - t0), st.get("frames"), st.get("fps"), len(session.store.snapshot().events))
        )
        print(rows[-1], flush=True)
    ticks = np.array(page.evaluate("window.__ticks")) / 1000.0
    b.close()
timing = session.page.timing()
session.close()
app.close()
d = np.diff(ticks)
rel = ticks - ticks[0]
per_min = [
    (
        int(m),
        round(float(d[(rel[1:] >= 60 * m) & (rel[1:] < 60 * (m + 1))].mean()), 3),
        round(float(d[(rel[1:] >= 60 * m) & (rel[1:] < 60 * (m + 1))].std()), 3),
    )
    for m in range(int(MINUTES))
    if ((rel[1:] >= 60 * m) & (rel[1:] < 60 * (m + 1))).any()
]
print(
    json.dumps(
        {
            "browser_ticks": int(len(ticks)),
            "interval_mean_s": round(float(d.mean()), 3),
            "interval_sd_s": round(float(d.std()), 3),
            "interval_p95_s": round(float(np.percentile(d, 95)), 3),
            "interval_max_s": round(float(d.max()), 3),
            "per_minute": per_min,
            "server": {k: timing.get(k) for k in ("tick_interval_s", "event_to_page_s", "ticks")},
        },
        default=str,
    )
)
