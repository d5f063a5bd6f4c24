"""The console: server-rendered pages over the store for people (engine/console/routes.py), what they read
(queries.py), how rows are shown (views.py), and who may see them (access.py)."""

from __future__ import annotations

from fastapi import FastAPI

from engine.console.access import AdminGuard
from engine.console.routes import console_routes

__all__ = ["add_console"]


def add_console(app: FastAPI, admin_token) -> None:
    """Serve the console's pages; with `admin_token` (a SecretStr), guard them, `/status`, `/docs` and `/metrics`."""
    app.router.routes.extend(console_routes())
    if admin_token is not None:
        app.add_middleware(AdminGuard, token=admin_token)
