"""Servers the lake's tests run against, on loopback, started and stopped by the tests: a real PostgreSQL (Debian's
package; its binaries in /usr/lib/postgresql/*/bin) as the Iceberg catalog, and moto's S3 server as the warehouse.

PostgreSQL refuses to run as root: as root (CI), its data directory belongs to `nobody` and its programs run as that
user through `runuser`."""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import psycopg
from moto.server import ThreadedMotoServer

from tests.conftest import free_port


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"PostgreSQL's {name} is missing: install Debian's postgresql package (make test does)"
    return found[-1]


class Postgres:
    """A throwaway PostgreSQL cluster with a `lake` database; `url` is its SQLAlchemy URL for psycopg."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="inlet-pg-"))
        self.user = "nobody" if os.geteuid() == 0 else None
        self.url = f"postgresql+psycopg://inlet@127.0.0.1:{self.port}/lake"

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{cmd[0]} failed: {result.stdout}{result.stderr}"

    def start(self) -> Postgres:
        data = self.dir / "data"
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run(_pg_bin("initdb"), "-D", str(data), "-U", "inlet", "-A", "trust", "--no-sync", "-E", "UTF8")
        self._run(_pg_bin("pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "-t", "30", "-o",
                  f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c full_page_writes=off", "start")
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(f"host=127.0.0.1 port={self.port} user=inlet dbname=postgres",
                                     autocommit=True) as con:
                    con.execute("CREATE DATABASE lake")
                return self
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, (self.dir / "log").read_text()
                time.sleep(0.1)

    def stop(self) -> None:
        try:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class S3:
    """moto's S3 server on loopback with one bucket; `lake_s3` is the config's `lake.s3`."""

    def __init__(self, bucket: str = "lake") -> None:
        self.port = free_port()
        self.bucket = bucket
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.lake_s3 = {"endpoint": self.endpoint, "region": "us-east-1", "access_key_id": "testing",
                        "secret_access_key": "testing"}

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def __enter__(self) -> S3:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
        self.server.start()
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]
