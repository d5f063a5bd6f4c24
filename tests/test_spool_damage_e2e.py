"""The issue's scenario end to end: `inlet serve` killed -9, DuckDB's WAL lost, one byte of the spool flipped.
Every acknowledged event but those of the damaged record comes back, and the damage is an ERROR, a warning of
`inlet status` and an entry of `/status`, with the segment kept."""

from __future__ import annotations

import signal

import httpx

from engine.store import spool_dir
from tests.conftest import inlet, write_config


def test_a_damaged_spool_after_kill_9_and_a_lost_wal_loses_one_record_and_says_so(serve_process, tmp_path):
    cfg = write_config(tmp_path)
    assert serve_process(cfg).stop() == 0  # the store's schema is in the file, not only in its WAL
    proc = serve_process(cfg)
    acked = []
    with httpx.Client(base_url=proc.url, timeout=10) as client:
        for i in range(300):  # one at a time: one spool record each
            r = client.post(f"/collect/hit/website/s{i % 7}", json={"event_id": f"e{i}", "n": i})
            assert r.status_code == 200
            acked.append(f"e{i}")
    proc.proc.send_signal(signal.SIGKILL)
    proc.proc.wait()

    store = tmp_path / "inlet.duckdb"
    store.with_name("inlet.duckdb.wal").unlink(missing_ok=True)  # the store lost what it had taken in
    [segment] = sorted(spool_dir(store).glob("*.seg"))  # the segment being written is kept until the next start
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))

    offline = inlet("status", config=cfg)
    assert offline.returncode == 0
    assert f"of spool segment {int(segment.stem)}" in offline.stderr

    proc2 = serve_process(cfg)
    stored = {line for line in inlet("sql", "SELECT properties->>'event_id' FROM events", "--format", "csv",
                                      config=cfg, check=True).stdout.splitlines()[1:]}
    assert len(set(acked) - stored) == 1 and stored <= set(acked)
    log = proc2.log.read_text()
    assert "ERROR" in log and f"spool segment {int(segment.stem)}" in log and "could not be read" in log
    health = proc2.http.get("/status").json()["store"]
    assert health["spool_damage"] and "could not be read" in health["spool_damage"][0]
    assert len(health["damaged_segments"]) == 1
    served = inlet("status", config=cfg)
    assert "the spool is damaged" in served.stderr and "damaged spool segment(s) kept in" in served.stderr
    assert proc2.stop() == 0
