"""Stripe's documented read limits (VENDOR_FACTS 3.4): 100 operations a second live, 25 in test mode, counted in
one-second windows. Stripe sends no remaining-capacity headers."""

from __future__ import annotations

from typing import Any

from connectors.kit.limiter import WindowLimiter


def documented(live: bool, **kwargs: Any) -> WindowLimiter:
    return WindowLimiter(100 if live else 25, 1.0, **kwargs)
