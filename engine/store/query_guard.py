"""What `inlet sql` may run: one SELECT over the store's own tables and views, and nothing else.

DuckDB decides what the text is: its parser gives the statement type (`extract_statements`) and the query's
syntax tree (`json_serialize_sql`), and its catalog says which names are the store's tables and views and which
functions are table functions. The tree is walked for every table reference and function call:

- a table reference must name a table or view of the store's catalog (schema `main`), a view of
  `information_schema`, or a common table expression in scope. Anything else (a file name such as 'x.csv',
  another database, a system table) is refused before DuckDB could read it through a replacement scan;
- a table function must be one of ALLOWED_TABLE_FUNCTIONS (they only read their arguments); every other one
  reads files or URLs, or reads or changes the server (read_text, glob, query, checkpoint, duckdb_settings, ...);
- the scalar functions in REFUSED_FUNCTIONS read the server's environment or settings, or change its state.

Statements other than SELECT (PRAGMA, CALL, SET, CHECKPOINT, VACUUM, ATTACH, COPY, EXPORT, INSTALL, LOAD,
CREATE SECRET, EXPLAIN, ...) are refused by type. DESCRIBE, SHOW and SUMMARIZE are SELECTs and are checked the
same way. Extensions are neither installed nor loaded by the store's connections (engine/store/database.py).
"""

from __future__ import annotations

import string

import duckdb
import orjson

PREFIX = "inlet sql only reads the store's tables: "
ALLOWED_TABLE_FUNCTIONS = frozenset({"unnest", "range", "generate_series", "json_each", "json_tree"})
REFUSED_FUNCTIONS = {
    "getenv": "reads the server's environment",
    "current_setting": "reads the server's settings",
    "getvariable": "reads the server's variables",
    "json_serialize_plan": "plans another query, which may read files",
    "nextval": "changes a sequence",
    "setval": "changes a sequence",
    "currval": "reads a sequence's session state",
    "setseed": "changes the server's random seed",
    "write_log": "writes to the server's log",
}
_FILE_READERS = ("read_", "parquet_", "glob", "sniff_csv")
_QUERY_RUNNERS = ("query", "query_table", "json_execute_serialized_sql")
# SHOW TABLES, SHOW ALL TABLES, SHOW DATABASES, SHOW SCHEMAS: lists of what the process has open
SHOW_SPECIAL = frozenset({"tables", "__show_tables_expanded", "databases", "schemas"})

_CATALOG = """
SELECT 'table', table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'
UNION ALL
SELECT 'table', view_name FROM duckdb_views()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
UNION ALL
SELECT 'information_schema', view_name FROM duckdb_views() WHERE schema_name = 'information_schema'
UNION ALL
SELECT 'database', current_database()
"""
# names that DuckDB knows only as table functions (some, like repeat, are scalar functions too)
_TABLE_ONLY = """
SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN ('table', 'table_macro', 'pragma')
EXCEPT
SELECT function_name FROM duckdb_functions() WHERE function_type IN ('scalar', 'aggregate', 'macro', 'window')
"""
# DuckDB matches names whatever the case of their ASCII letters, and only of those
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_table_only_names: frozenset[str] | None = None


class QueryRefused(Exception):
    """The query does something `inlet sql` does not allow; the message says what."""


def check_query(cur: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise QueryRefused unless `sql` is one SELECT that reads only the store's tables and views.
    Errors from DuckDB's parser (a syntax error) come out as duckdb.Error."""
    statements = cur.extract_statements(sql)
    if len(statements) != 1:
        raise QueryRefused(f"give exactly one SQL statement (got {len(statements)})")
    kind = statements[0].type.name
    if kind != "SELECT":
        article = "an" if kind[0] in "AEIOU" else "a"
        raise QueryRefused(f"{PREFIX}{article} {kind} statement is not allowed (only a SELECT, DESCRIBE, SHOW "
                           "or SUMMARIZE is)")
    tree = orjson.loads(cur.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()[0])
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        raise QueryRefused(f"{PREFIX}this query could not be checked ({tree.get('error_message', 'no statement')})")
    _Walk(cur).visit(tree["statements"][0], frozenset())


class _Walk:
    def __init__(self, cur: duckdb.DuckDBPyConnection):
        rows = [(kind, _fold(name)) for kind, name in cur.execute(_CATALOG).fetchall()]
        self.tables = {name for kind, name in rows if kind == "table"}
        self.information_schema = {name for kind, name in rows if kind == "information_schema"}
        self.database = next(name for kind, name in rows if kind == "database")
        self.table_only = _table_only(cur)

    def visit(self, node, ctes: frozenset[str]) -> None:
        """Check `node` (a piece of the syntax tree); `ctes` are the (folded) CTE names in scope."""
        if isinstance(node, list):
            for item in node:
                self.visit(item, ctes)
            return
        if not isinstance(node, dict):
            return
        cte_map = node.get("cte_map")
        if cte_map and cte_map.get("map"):
            ctes = self._ctes(cte_map["map"], ctes)
        inner = ctes  # a recursive CTE's recursive part (right) also sees the CTE's own name
        if node.get("type") == "RECURSIVE_CTE_NODE":
            inner = ctes | {_fold(node.get("cte_name"))}
        if "class" not in node:  # expressions have a class; table references and query nodes do not
            self._table_ref(node, ctes)
        if "function_name" in node:
            self._function(node)
        for key, value in node.items():
            if key != "cte_map":
                self.visit(value, ctes if key == "left" else inner)

    def _ctes(self, entries: list[dict], outer: frozenset[str]) -> frozenset[str]:
        """Each CTE's body sees the CTEs before it (DuckDB binds no forward reference); the query sees them all."""
        seen = outer
        for entry in entries:
            self.visit(entry.get("value"), seen)
            seen = seen | {_fold(entry.get("key"))}
        return seen

    def _table_ref(self, node: dict, ctes: frozenset[str]) -> None:
        kind = node.get("type")
        if kind == "BASE_TABLE":
            self._table(node, ctes)
        elif kind == "TABLE_FUNCTION":
            name = _fold((node.get("function") or {}).get("function_name"))
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise QueryRefused(PREFIX + _table_function_refusal(name))
        elif kind == "SHOW_REF":
            name = str(node.get("table_name", ""))
            if node.get("show_type") == "SHOW_SPECIAL":
                what = _fold(name.strip('"'))
                if what not in SHOW_SPECIAL:
                    raise QueryRefused(f"{PREFIX}SHOW {what.upper()} is not allowed")
            elif name:
                self._table(node, ctes)

    def _table(self, node: dict, ctes: frozenset[str]) -> None:
        fields = (node.get("catalog_name") or "", node.get("schema_name") or "", node.get("table_name") or "")
        path = (node.get("qualified_name") or {}).get("path") or []
        if len(path) > 3:
            raise QueryRefused(f"{PREFIX}{'.'.join(path)!r} is not one of the store's tables or views")
        candidates = [fields, ("", "", *path)[-3:]] if path else [fields]
        for catalog, schema, name in candidates:
            if not self._is_store_table(_fold(catalog), _fold(schema), _fold(name), ctes):
                shown = ".".join(part for part in (catalog, schema, name) if part)
                raise QueryRefused(f"{PREFIX}{shown!r} is not one of the store's tables or views (files, other "
                                   "databases and system tables are not allowed)")

    def _is_store_table(self, catalog: str, schema: str, name: str, ctes: frozenset[str]) -> bool:
        if not catalog and not schema and name in ctes:
            return True
        if schema == "information_schema":
            return not catalog and name in self.information_schema
        if catalog not in ("", self.database):
            return False
        if schema in ("", "main") or (not catalog and schema == self.database):
            return name in self.tables
        return False

    def _function(self, node: dict) -> None:
        name = _fold(node.get("function_name"))
        if name in REFUSED_FUNCTIONS:
            raise QueryRefused(f"{PREFIX}{name}() {REFUSED_FUNCTIONS[name]} and is not allowed")
        if name in self.table_only and name not in ALLOWED_TABLE_FUNCTIONS:
            raise QueryRefused(PREFIX + _table_function_refusal(name))


def _table_only(cur: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Names DuckDB knows only as table functions: built in, and so the same for every connection of the
    process (the store's connections load no extension); looked up once."""
    global _table_only_names
    if _table_only_names is None:
        _table_only_names = frozenset(_fold(name) for (name,) in cur.execute(_TABLE_ONLY).fetchall())
    return _table_only_names


def _fold(name) -> str:
    return str(name or "").translate(_ASCII_LOWER)


def _table_function_refusal(name: str) -> str:
    if name.startswith(_FILE_READERS):
        return f"{name}() reads files (or URLs) and is not allowed"
    if name in _QUERY_RUNNERS:
        return f"{name}() runs other SQL and is not allowed"
    allowed = ", ".join(f"{n}()" for n in sorted(ALLOWED_TABLE_FUNCTIONS))
    return f"the table function {name}() is not allowed (only {allowed} are)"
