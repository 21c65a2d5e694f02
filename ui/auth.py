"""The dashboard's login check: one user and password, compared in constant time, with a lockout
after repeated failures (Gradio itself does not throttle logins). Nothing here imports gradio."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class LoginGuard:
    """Gradio's `auth` callable. After `max_failures` wrong logins in a row every login, right or
    wrong, is refused for `lockout_s`, doubled each time a lockout follows the last (reset by a
    good login): guessing a password costs minutes per handful of tries."""

    def __init__(
        self,
        user: str,
        password: str,
        max_failures: int = 5,
        lockout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user, self._password = user.encode(), password.encode()
        self.max_failures, self.lockout_s, self._clock = max_failures, lockout_s, clock
        self.failures = 0
        self.lockouts = 0
        self.locked_until = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> bool:
        with self._lock:
            now = self._clock()
            if now < self.locked_until:
                return False
            user_ok = hmac.compare_digest(str(username).encode(), self._user)
            password_ok = hmac.compare_digest(str(password).encode(), self._password)
            if user_ok and password_ok:
                self.failures = self.lockouts = 0
                return True
            self.failures += 1
            if self.failures >= self.max_failures:
                seconds = self.lockout_s * 2**self.lockouts
                self.locked_until, self.failures = now + seconds, 0
                self.lockouts += 1
                log.warning("%d wrong logins in a row: logins refused for %.0f s", self.max_failures, seconds)
            return False
