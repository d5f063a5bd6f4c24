"""The clock the sandbox tests move by hand (the emulators take `clock=`), and the moment it starts at."""

from __future__ import annotations

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z


class Clock:
    """A clock tests move by hand."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
