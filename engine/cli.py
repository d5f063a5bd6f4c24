"""The `inlet` command. Every command that reads a config reports its problems the same way and exits 1."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from pathlib import Path

import click

from engine.config import ConfigError, load_config, resolve_config_path
from engine.output import FORMATS, Printer, table
from engine.store import StoreError
from engine.store.reader import QueryError


def _fail(message: str) -> None:
    click.echo(f"inlet: {message}", err=True)
    sys.exit(1)


BEHIND = ("note: the server stopped before moving all acknowledged events from its spool into the store; "
          "they are safe and go in when `inlet serve` starts again. {what} not include them.")


@contextlib.contextmanager
def _store(config, what: str, *, external_access: bool = True):
    """The store, through a running server or straight from the file; says so when the file lacks events."""
    from engine.access import StoreAccess

    with StoreAccess.open(config, external_access=external_access) as store:
        if store.behind:
            click.echo(BEHIND.format(what=what), err=True)
        yield store


def _config(ctx: click.Context):
    path = resolve_config_path(ctx.obj)
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        n = len(exc.problems)
        _fail(f"{path}: {n} problem{'s' if n != 1 else ''}; nothing was started")


CONFIG_HELP = "Config file (default: $INLET_CONFIG, else ./inlet.yaml)."


def _config_after(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    while value is not None and ctx is not None:  # given after the command, it wins over one given before it,
        ctx.obj = value  # for the command and the groups above it (whichever of them a command reads)
        ctx = ctx.parent


class _Commands(click.Group):
    """A group whose commands (and its subgroups' commands) also take `-c/--config` after their name, as in
    `inlet sync crm -c inlet.yaml`."""

    group_class = type  # subgroups (`inlet mappings ...`) are of this class too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group) and not any(p.name == "config_after" for p in cmd.params):
            cmd.params.append(click.Option(["-c", "--config", "config_after"], metavar="FILE", expose_value=False,
                                           callback=_config_after, help=CONFIG_HELP))
        super().add_command(cmd, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", metavar="FILE", help=CONFIG_HELP)
@click.version_option(package_name="inlet")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """inlet: collect customer data from every source into one DuckDB store, and query it with SQL."""
    ctx.obj = config_path


@cli.command()
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check the config file and print a one-line summary."""
    config = _config(ctx)
    bridges = Counter(s.bridge for s in config.sources)
    kinds = ", ".join(f"{n} {b}" for b, n in sorted(bridges.items())) or "none"
    n = len(config.sources)
    click.echo(f"{resolve_config_path(ctx.obj)}: ok, {n} source{'s' if n != 1 else ''} ({kinds}), "
               f"store {config.store.path}, server {config.server.host}:{config.server.port}")


@cli.command()
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="text lines, or one JSON object per line (default: the config's logging.format, else text).")
@click.pass_context
def serve(ctx: click.Context, log_level: str, log_format: str | None) -> None:
    """Run the HTTP server and the sync scheduler on the store until SIGTERM or SIGINT; SIGHUP reloads the config."""
    from engine.server.serve import serve as run

    config = _config(ctx)
    try:
        sys.exit(run(config, log_level=log_level, config_path=resolve_config_path(ctx.obj), log_format=log_format))
    except StoreError as exc:
        _fail(str(exc))


@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def sql(ctx: click.Context, query: str, fmt: str) -> None:
    """Run one read-only SQL statement on the store (also while `inlet serve` runs)."""
    config = _config(ctx)
    try:
        with _store(config, "This answer does", external_access=False) as store:
            columns, _, chunks = store.query(query)
            printer = Printer(fmt, columns, sys.stdout)
            for rows in chunks:
                printer.rows(rows)
            printer.close()
    except (StoreError, QueryError) as exc:
        _fail(str(exc))


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def status(ctx: click.Context, fmt: str) -> None:
    """Every source: bridge, enabled, schedule, counts, last sync (time, outcome, changes, error), next sync.

    The table shows the main columns; csv and json show all of them (channel, last event, rejections, when
    the last sync finished and what it read too). The next sync is known while `inlet serve` runs."""
    from engine.status import COLUMNS, TABLE_COLUMNS, status_rows, store_warnings

    config = _config(ctx)
    health: dict = {}
    lake = None
    try:
        with _store(config, "These counts do") as store:
            rows = store.status()
            if rows is None:
                rows = status_rows(config, lambda q: [r for rows in store.query(q)[2] for r in rows])
            health = store.health()
            lake = _lake_status(config, store)
    except StoreError as exc:
        if not config.store.path.exists():
            rows = status_rows(config, lambda q: [])
        else:
            _fail(str(exc))
    columns = TABLE_COLUMNS if fmt == "table" else COLUMNS
    printer = Printer(fmt, columns, sys.stdout)
    printer.rows([[_cell(r.get(c), fmt) for c in columns] for r in rows])
    printer.close()
    for warning in store_warnings(health):  # on stderr: the rows keep their shape in every format
        click.echo(f"inlet: {warning}", err=True)
    if lake is not None:  # after the table; on stderr with csv and json, whose rows keep their shape
        click.echo(_lake_line(lake), err=fmt != "table")


def _lake_status(config, store) -> dict | None:
    if config.lake is None:
        return None
    from engine.lake.service import describe, file_status

    try:
        status = store.lake_status()
    except QueryError as exc:  # a server started before `lake:` was added to its config
        return {**describe(config.lake, None, 0, None), "events_behind": None, "last_error": str(exc)}
    if status is None:
        status = file_status(config.lake, lambda q: [r for rows in store.query(q)[2] for r in rows])
    return status


def _lake_line(lake: dict) -> str:
    behind = lake["events_behind"]
    line = (f"lake {lake['namespace']} ({lake['catalog']}) as node {lake['node']}: "
            + ("how many events the lake lacks is not known yet" if behind is None
               else f"{behind} events not yet in the lake")
            + (f", the oldest waiting {lake['lag_seconds']:.1f} s" if behind else ""))
    if lake.get("last_export_at"):
        line += f"; last export {_cell(lake['last_export_at'], 'table')}"
    if lake.get("last_error"):
        line += f"; error: {lake['last_error']}"
    return line


def _cell(value, fmt: str):
    """In the table, long texts (errors) are cut and times shown to the second."""
    if fmt != "table" or not isinstance(value, str):
        return value
    if len(value) > 19 and value[4:5] == "-" and value[10:11] == "T":
        return value[:19].replace("T", " ")
    return value if len(value) <= 60 else value[:59] + "…"


@cli.command()
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Make the running `inlet serve` read its config file again (as SIGHUP does) and say what changed."""
    from engine.server.control import ask, socket_answers, socket_path

    config = _config(ctx)  # the server reads the file itself; checking here gives the problems at once
    sock = socket_path(config.store.path)
    if not (sock.exists() and socket_answers(sock)):
        _fail(f"no inlet server runs on {config.store.path}; the config is read when `inlet serve` starts")
    answer = next(ask(sock, {"op": "reload"}), None)
    if answer is None:
        _fail("the server closed the connection before answering")
    if "error" in answer:
        for problem in answer.get("problems", []):
            click.echo(problem, err=True)
        _fail(answer["error"])
    jobs = answer.get("jobs") or {}
    click.echo(f"reloaded: {answer['sources']} sources; added {_names(answer['added'])}, removed "
               f"{_names(answer['removed'])}, changed {_names(answer['changed'])}; scheduled jobs added "
               f"{_names(jobs.get('added', []))}, removed {_names(jobs.get('removed', []))}, changed "
               f"{_names(jobs.get('changed', []))}")
    if answer.get("restart_needed"):
        click.echo(f"note: changes to {' and '.join(answer['restart_needed'])} take effect when the server "
                   "restarts", err=True)


def _names(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


@cli.command()
@click.argument("source_id")
@click.option("--object", "object_name", metavar="NAME", help="Sync only this object (plural API name: customers).")
@click.option("--full-refresh", is_flag=True,
              help="Read every object again (not only changes since the cursor); marks what is gone as deleted.")
@click.option("--dry-run", is_flag=True,
              help="Print what the first page(s) of a fresh read would store, as JSON lines; store nothing.")
@click.option("--limit-pages", type=click.IntRange(1, 1000), metavar="N",
              help="With --dry-run: how many pages of each object to read (default 1).")
@click.pass_context
def sync(ctx: click.Context, source_id: str, object_name: str | None, full_refresh: bool, dry_run: bool,
         limit_pages: int | None) -> None:
    """Pull one source now (in the running server, else here) and print what changed."""
    from engine.sync.launch import SyncFailed, run
    from engine.sync.report import ProgressLine, print_summary
    from engine.sync.service import SyncRefused, pull_source

    config = _config(ctx)
    if limit_pages is not None and not dry_run:
        _fail("--limit-pages goes with --dry-run (a sync reads every page, or its cursor would skip the rest)")
    if dry_run:
        _dry_run(config, source_id, object_name, limit_pages or 1)
        return
    try:
        pull_source(config, source_id, object_name)
        result = run(config, source_id, object_name, full_refresh, ProgressLine())
    except (SyncRefused, SyncFailed, StoreError) as exc:
        _fail(f"sync of {source_id} failed: {exc}" if isinstance(exc, StoreError) else str(exc))
    if "skipped" in result:
        _fail(result["skipped"])
    print_summary(result, click.echo)
    if not result["ok"]:
        sys.exit(1)


def _dry_run(config, source_id: str, object_name: str | None, pages: int) -> None:
    from engine.sync.preview import print_preview, run_preview
    from engine.sync.service import SyncRefused, pull_source

    try:
        source = pull_source(config, source_id, object_name)
    except SyncRefused as exc:
        _fail(str(exc))
    previews = run_preview(source, [object_name] if object_name else list(source.object_names), pages)
    print_preview(source_id, previews, click.echo)
    if any(p.error for p in previews):
        sys.exit(1)


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def snapshot(ctx: click.Context, path: Path) -> None:
    """Write a consistent copy of the store to PATH, for DuckDB clients, without stopping the server."""
    config = _config(ctx)
    try:
        with _store(config, "The snapshot does") as store:
            written = store.snapshot(path)
    except (StoreError, QueryError, ValueError, OSError) as exc:
        _fail(f"snapshot failed: {exc}")
    click.echo(f"snapshot written to {written}; open it with duckdb.connect({str(written)!r}, read_only=True)")


@cli.command()
@click.option("--dir", "directory", default="demo-data", show_default=True, type=click.Path(path_type=Path),
              help="Where the demo's config and store go (emptied first).")
@click.option("--keep", is_flag=True, help="Leave the server and the sandbox running, and print the console's URL.")
def demo(directory: Path, keep: bool) -> None:
    """Start the sandbox and a server, sync Stripe, HubSpot and Shopify, send events over HTTP, show what landed."""
    from engine.demo import run_demo

    sys.exit(run_demo(directory, echo=click.echo, table=table, keep=keep))


@cli.group()
def mappings() -> None:
    """See and apply what a source's mapping does to its stored records."""


def _mappings_request(ctx: click.Context, request: dict):
    from engine.profiles.command import run
    from engine.profiles.preview import MappingsRefused

    config = _config(ctx.parent)
    try:
        return run(config, request)
    except (MappingsRefused, StoreError) as exc:
        _fail(str(exc))


@mappings.command("preview")
@click.argument("source_id")
@click.option("--object", "object_name", metavar="NAME", required=True,
              help="The object to preview (plural API name: contacts, customers).")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="How many records (the most recently changed).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def mappings_preview(ctx: click.Context, source_id: str, object_name: str, limit: int, fmt: str) -> None:
    """Show, for stored records, the identities, attributes and write-backs their mapping gives; changes nothing."""
    import orjson

    items = _mappings_request(ctx, {"source_id": source_id, "object": object_name, "limit": limit})
    if fmt == "json":
        click.echo(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode())
        return
    if not items:
        click.echo(f"no stored {object_name} for {source_id} yet: run `inlet sync {source_id}` first")
    for item in items:
        click.echo(_preview_text(source_id, item))
    click.echo("(a preview: nothing was changed)")


def _preview_text(source_id: str, item: dict) -> str:
    import orjson

    def show(value) -> str:
        return orjson.dumps(value).decode()

    profile = item["profile_id"] or "none (no identity)"
    lines = [f"{source_id} {item['external_id']} -> profile {profile}{' (new)' if item['new_profile'] else ''}"
             + (f", merging {item['merges']} profile(s)" if item["merges"] else "")]
    lines.append("  identities: " + (", ".join(f"{k}={v}" for k, v in item["identities"]) or "none"))
    lines.append("  attributes: " + (", ".join(f"{k}={show(v)}" for k, v in item["attributes"].items()) or "none"))
    changes = item["profile_changes"]
    lines.append("  profile changes: " + (", ".join(f"{k}={show(v)}" for k, v in changes.items()) or "none"))
    for wb in item["writebacks"]:
        where = f"{wb['source_id']} {wb['object_type']} {wb['external_id']}"
        lines.append(f"  write-back to {where}: {show(wb['changes'])}")
    if not item["writebacks"]:
        lines.append("  write-backs: none")
    for error in item["errors"]:
        lines.append(f"  error: {error}")
    return "\n".join(lines)


@mappings.command("apply")
@click.argument("source_id")
@click.option("--object", "object_name", metavar="NAME", required=True,
              help="The object to map (plural API name: contacts, customers).")
@click.pass_context
def mappings_apply(ctx: click.Context, source_id: str, object_name: str) -> None:
    """Map every stored record of the object now (records stored before the mapping existed, or after it changed)."""
    totals = _mappings_request(ctx, {"source_id": source_id, "object": object_name, "apply": True})
    click.echo(f"mapped {totals['records']} {object_name} of {source_id}: {totals['attributes_changed']} attribute "
               f"changes, {totals['merges']} merges, {totals['writebacks']} write-backs queued")


@cli.group()
def lake() -> None:
    """The shared Apache Iceberg lake every inlet node exports its store into (`lake:` in the config)."""


@lake.command("export")
@click.pass_context
def lake_export(ctx: click.Context) -> None:
    """Export the store's new events and changed records and profiles into the lake now (in the running server,
    else here) and say what went."""
    from engine.lake import LakeError
    from engine.lake.command import export_once, summary

    config = _config(ctx.parent)
    try:
        click.echo(summary(export_once(config)))
    except (LakeError, StoreError) as exc:
        _fail(f"lake export failed: {exc}")


def _rate_limit(value: str) -> bool | int:
    if value in ("on", "off"):
        return value == "on"
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter("on, off, or requests per second (a positive integer)")


@cli.command()
@click.option("--port", default=12111, show_default=True, help="Loopback port to serve on (0: any free one).")
@click.option("--seed", default=1, show_default=True, help="Seed of the generated accounts (same seed, same data).")
@click.option("--customers", default=200, show_default=True,
              help="Stripe customers, HubSpot contacts and Shopify customers to generate (each).")
@click.option("--rate-limit", "rate_limit", default="on", show_default=True,
              help="on: every vendor's documented limits (Stripe test mode 25 reads/s, HubSpot 100 per 10 s and "
                   "5 searches/s, Shopify's cost bucket); off; or N: Stripe N requests/s, the others as documented.")
@click.option("--shopify-plan", type=click.Choice(["standard", "advanced", "plus"]), default="standard",
              show_default=True, help="Whose GraphQL cost bucket the Shopify shop has (100, 200 or 1,000 points/s).")
@click.option("--overlap", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="The share of Stripe customers who are also a HubSpot contact and a Shopify customer with the "
                   "same email and name (their profiles unify).")
def sandbox(port: int, seed: int, customers: int, rate_limit: str, shopify_plan: str, overlap: float) -> None:
    """Serve emulators of Stripe, HubSpot and Shopify on 127.0.0.1 and print a config snippet pointing at them."""
    from sandbox.server import serve as run

    if port == 0:
        from engine.net import free_port

        port = free_port()
    run("127.0.0.1", port, seed=seed, customers=customers, rate_limit=_rate_limit(rate_limit), echo=click.echo,
        shopify_plan=shopify_plan, overlap=overlap)


def main() -> None:
    cli(prog_name="inlet")


if __name__ == "__main__":
    main()
