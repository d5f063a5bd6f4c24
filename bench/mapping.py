"""What mappings cost a pull: `inlet sync` of N Stripe customers from the sandbox (limits off), each in a child
process into a fresh store, (a) without a mapping, (b) with the shipped Stripe mapping (`mapping: default`: email
and customer-id identities, five attributes), (c) with a mapping that also writes two attributes back
(two-way `metadata.*` fields, so every new profile is reconciled against the outbox), and (d) `inlet mappings
apply` over the store of (a): mapping records already stored. Prints records per second, the sync's own time
and peak RSS for each, and the profiles, identities and attributes that landed.

    .venv/bin/python bench/mapping.py [--records 20000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pull import BIN, BenchError, Sandbox, run_child

SOURCE = ("{{id: billing, name: Stripe, channel: billing, bridge: stripe, api_key: sk_test_sandbox, "
          "base_url: \"{base}\", objects: [customers], rate_limit: 10000{mapping}}}")
TWO_WAY = """objects:
  customer:
    identities: [{kind: email, path: email}, {kind: stripe_customer, path: id}]
    fields:
      - {path: name, attribute: name}
      - {path: email, attribute: email_address}
      - {path: metadata.plan, attribute: plan, direction: two-way}
      - {path: metadata.segment, attribute: segment, direction: two-way}
"""
VARIANTS = {"(a) no mapping": "", "(b) mapping: default": ", mapping: default",
            "(c) two-way mapping": ", mapping: two-way.yaml"}


def _config(work: Path, base: str, mapping: str) -> Path:
    (work / "two-way.yaml").write_text(TWO_WAY)
    config = work / "inlet.yaml"
    config.write_text("store: {path: inlet.duckdb}\nsources:\n  - " + SOURCE.format(base=base, mapping=mapping) + "\n")
    return config


def _sql(config: Path, query: str) -> list[str]:
    done = subprocess.run([str(BIN / "inlet"), "-c", str(config), "sql", query, "--format", "csv"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"{query}: {done.stderr}")
    return done.stdout.strip().splitlines()[1:]


def _landed(config: Path) -> str:
    row = _sql(config, "SELECT (SELECT count(*) FROM profiles), (SELECT count(*) FROM identities), "
                       "(SELECT count(*) FROM profile_attributes), (SELECT count(*) FROM writebacks)")[0]
    profiles, identities, attributes, writebacks = row.split(",")
    return f"{int(profiles):,} profiles, {int(identities):,} identities, {int(attributes):,} attributes, " \
           f"{int(writebacks):,} write-backs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="Stripe customers (default 20000)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="inlet-bench-mapping-"))
    rows = []
    with Sandbox(args.records, "off", root / "sandbox.log", None) as sandbox:
        stores = {}
        for name, mapping in VARIANTS.items():
            work = Path(tempfile.mkdtemp(prefix="sync-", dir=root))
            config = _config(work, sandbox.base, mapping)
            result = run_child([str(BIN / "inlet"), "-c", str(config), "sync", "billing"], work, work / "out.log",
                               None, 1800, sandbox)
            count = int(_sql(config, "SELECT count(*) FROM records")[0])
            if count != args.records:
                raise BenchError(f"{name}: {count:,} records landed, expected {args.records:,}")
            done = re.findall(r": done in ([\d.]+) s", result["output"])
            sync_s = float(done[-1]) if done else result["wall_s"]
            rows.append((name, args.records / sync_s, sync_s, result["wall_s"], result["peak_rss_mb"],
                         _landed(config)))
            stores[name] = config
        # (d): map what (a) stored, as after adding a mapping to a source that already synced
        config = stores["(a) no mapping"]
        text = config.read_text().replace("rate_limit: 10000}", "rate_limit: 10000, mapping: default}")
        config.write_text(text)
        result = run_child([str(BIN / "inlet"), "-c", str(config), "mappings", "apply", "billing", "--object",
                            "customers"], config.parent, config.parent / "apply.log", None, 1800, sandbox)
        rows.append(("(d) mappings apply (default)", args.records / result["wall_s"], result["wall_s"],
                     result["wall_s"], result["peak_rss_mb"], _landed(config)))
    print(f"inlet sync of {args.records:,} Stripe customers (sandbox limits off), one child process each")
    print(f"{'variant':32} {'records/s':>10} {'sync s':>8} {'wall s':>8} {'peak RSS MB':>12}  landed")
    for name, rate, sync_s, wall, rss, landed in rows:
        print(f"{name:32} {rate:>10,.0f} {sync_s:8.2f} {wall:8.2f} {rss:12.0f}  {landed}")


if __name__ == "__main__":
    main()
