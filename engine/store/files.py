"""The store's files are its owner's alone: the store, DuckDB's WAL and spill files, the spool, its quarantine
and damaged segments, and snapshots are created 0600 and their directories 0700, whatever the umask (they
hold client IPs, header values and everything customers sent)."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_BITS = 0o077


def private_umask() -> None:
    """Take group and other bits off the umask of this process, which holds a store: DuckDB creates its WAL and
    spill files itself, whenever it needs them, with the process's umask."""
    current = os.umask(PRIVATE_BITS)
    os.umask(current | PRIVATE_BITS)


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) for the owner only; an existing one is made so too. Returns it."""
    path = Path(path)
    if not path.is_dir():
        private_umask()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """Make an existing file (one written before files were private, or by DuckDB) the owner's only."""
    try:
        os.chmod(path, 0o600)
    except FileNotFoundError:
        pass
