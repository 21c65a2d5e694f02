"""What the browser checks share (the browser test and `scripts/browser_soak.py`): where Chromium is, how
it is started headless, and a page script that timestamps every refresh of the status strip."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("MER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# after page.evaluate(TICK_OBSERVER), window.__ticks holds performance.now() (ms) of each new status text
TICK_OBSERVER = """() => {
    window.__ticks = [];
    const el = document.querySelector('#status');
    const strip = () => (el.querySelector('.status-strip') || {}).innerText || '';
    let last = strip();
    new MutationObserver(() => {     // one entry per new status text (the strip changes every refresh)
        const now = performance.now(), text = strip();
        if (text !== last) window.__ticks.push(now);
        last = text;
    }).observe(el, {subtree: true, childList: true, characterData: true});
}"""
