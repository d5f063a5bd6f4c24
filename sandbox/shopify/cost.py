"""Calculated query cost, by Shopify's published rules (shopify.dev "GraphQL Admin API rate limits"):

- a scalar or enum field costs 0; an object field 1 (plus what is selected inside it);
- a connection costs 2 plus, for each of the `first`/`last` nodes it may return, the node (1) and what is
  selected inside it; `edges`, `cursor` and `pageInfo` are covered by the 2. Selecting both `edges { node }` and
  `nodes` pays for the nodes twice (the sandbox's choice: the docs say nothing; both are fields);
- an interface is the most expensive of its possible selections;
- a mutation field costs 10, which covers its payload and the payload's own fields; objects selected deeper than
  that cost as above (inferred from real responses: `bulkOperationRunQuery { bulkOperation {…} userErrors {…} }`
  costs 10, `fulfillmentCreateV2 { fulfillment { order { name } } userErrors {…} }` costs 11).

Two reading choices where the docs are silent: a plain list of objects (not a connection, e.g. `accessScopes`)
is charged like one object; `nodes(ids:)` is charged per id.

`requested` is computed before execution from the query and its variables (`products(first: 10) { edges { node {
title } } }` is 2 + 10 × 1 = 12, the docs' own example); `actual` afterwards from what was returned: a connection
that returned 3 nodes of the 10 asked costs 2 + 3 × node. A field that was attempted but came back null still
costs its 1 (or 2): Shopify charges `product(id:)` returning null 1, and a connection that failed for want of
`first` 2.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    is_leaf_type,
)

from sandbox.shopify.execute import Collector

MUTATION_COST = 10


def _is_connection(type_: Any) -> bool:
    return type_.name.endswith("Connection")


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _sets(nodes: list) -> tuple:
    return tuple(node.selection_set for node in nodes if node.selection_set is not None)


class CostCalculator:
    def __init__(self, collector: Collector, operation: OperationDefinitionNode) -> None:
        self.collector = collector
        self.schema = collector.schema
        self.operation = operation
        mutation = operation.operation == OperationType.MUTATION
        root = self.schema.mutation_type if mutation else self.schema.query_type
        assert root is not None
        self.root = root
        self.mutation = mutation
        self._plans: dict[tuple, list[tuple]] = {}

    def _concrete(self, type_: Any) -> list[GraphQLObjectType]:
        if isinstance(type_, GraphQLObjectType):
            return [type_]
        return list(self.schema.get_possible_types(type_))

    def _fields(self, type_: GraphQLObjectType, sets: tuple) -> list[tuple[str, Any, list]]:
        out = []
        for key, nodes in self.collector.collect(type_, sets).items():
            name = nodes[0].name.value
            if not name.startswith("__"):
                out.append((key, type_.fields[name], nodes))
        return out

    # -- requested ---------------------------------------------------------------------------------------------

    def requested(self) -> int:
        sets = (self.operation.selection_set,)
        if not self.mutation:
            return self.selection(self.root, sets)
        total = 0
        for _, field_def, nodes in self._fields(self.root, sets):
            total += MUTATION_COST
            payload = get_named_type(field_def.type)
            if isinstance(payload, GraphQLObjectType):
                for _, inner_def, inner_nodes in self._fields(payload, _sets(nodes)):
                    inner = get_named_type(inner_def.type)
                    if not is_leaf_type(inner):
                        total += self.field(payload, inner_def, inner_nodes) - (2 if _is_connection(inner) else 1)
        return total

    def selection(self, type_: Any, sets: tuple) -> int:
        if not sets:
            return 0
        best = 0
        for concrete in self._concrete(type_):
            best = max(best, sum(self.field(concrete, field_def, nodes)
                                 for _, field_def, nodes in self._fields(concrete, sets)))
        return best

    def field(self, parent: GraphQLObjectType, field_def: Any, nodes: list) -> int:
        named = get_named_type(field_def.type)
        if is_leaf_type(named):
            return 0
        sets = _sets(nodes)
        args = self.collector.args(field_def, nodes[0])
        if _is_connection(named):
            size = args.get("first") if args.get("first") is not None else args.get("last") or 0
            return 2 + max(0, size) * self._per_node(named, sets)
        if parent is self.schema.query_type and nodes[0].name.value == "nodes":
            return len(args.get("ids") or ()) * (1 + self.selection(named, sets))
        return 1 + self.selection(named, sets)

    def _per_node(self, connection: GraphQLObjectType, sets: tuple) -> int:
        total = 0
        for _, field_def, nodes in self._fields(connection, sets):
            name = nodes[0].name.value
            if name == "nodes":
                total += 1 + self.selection(get_named_type(field_def.type), _sets(nodes))
            elif name == "edges":
                edge = get_named_type(field_def.type)
                for _, inner_def, inner_nodes in self._fields(edge, _sets(nodes)):
                    if inner_nodes[0].name.value == "node":
                        total += 1 + self.selection(get_named_type(inner_def.type), _sets(inner_nodes))
        return total

    # -- actual ------------------------------------------------------------------------------------------------

    def actual(self, data: dict | None) -> int:
        sets = (self.operation.selection_set,)
        fields = self._fields(self.root, sets)
        if data is None:  # a null propagated to the root: the root fields were attempted
            return sum(MUTATION_COST if self.mutation else
                       (2 if _is_connection(get_named_type(d.type)) else
                        0 if is_leaf_type(get_named_type(d.type)) else 1) for _, d, _ in fields)
        if not self.mutation:
            return self.value(self.root, sets, data)
        total = 0
        for key, field_def, nodes in fields:
            if key not in data:
                continue
            total += MUTATION_COST
            payload_type = get_named_type(field_def.type)
            payload = data[key]
            if payload is None or not isinstance(payload_type, GraphQLObjectType):
                continue
            for inner_key, inner_def, inner_nodes in self._fields(payload_type, _sets(nodes)):
                inner = get_named_type(inner_def.type)
                if is_leaf_type(inner) or payload.get(inner_key) is None:
                    continue
                value = payload[inner_key]
                items = value if isinstance(value, list) else [value]
                total += max((self.value(inner, _sets(inner_nodes), item) for item in items if item is not None),
                             default=0)
        return total

    def _plan(self, type_: GraphQLObjectType, sets: tuple) -> list[tuple]:
        """The non-leaf fields of a selection on a concrete type, as (key, how, type, inner sets, field nodes)."""
        cache_key = (type_.name, *map(id, sets))
        found = self._plans.get(cache_key)
        if found is not None:
            return found
        plan = []
        for key, field_def, nodes in self._fields(type_, sets):
            named = get_named_type(field_def.type)
            if is_leaf_type(named):
                continue
            if _is_connection(named):
                how = "connection"
            elif type_ is self.schema.query_type and nodes[0].name.value == "nodes":
                how = "each"
            elif _is_list(field_def.type):
                how = "list"
            else:
                how = "object"
            plan.append((key, how, named, _sets(nodes), nodes))
        self._plans[cache_key] = plan
        return plan

    def value(self, type_: Any, sets: tuple, value: dict) -> int:
        if not sets or value is None:
            return 0
        runtime = type_ if isinstance(type_, GraphQLObjectType) else self._match(type_, sets, value)
        if runtime is None:
            return 0
        total = 0
        for key, how, named, inner_sets, _ in self._plan(runtime, sets):
            if key not in value:
                continue
            got = value[key]
            if how == "object":
                total += 1 + (self.value(named, inner_sets, got) if got is not None and inner_sets else 0)
            elif how == "connection":
                total += 2 + (0 if got is None else self._connection_value(named, inner_sets, got))
            elif how == "each":
                total += sum(1 + self.value(named, inner_sets, item) for item in got or ())
            else:
                total += 1 + max((self.value(named, inner_sets, item) for item in got or () if item is not None),
                                 default=0)
        return total

    def _match(self, abstract: GraphQLInterfaceType, sets: tuple, value: dict) -> GraphQLObjectType | None:
        """The concrete type of an object in the response: the one whose selection gives exactly its keys (both
        executors answer exactly the collected fields)."""
        keys = set(value)
        for concrete in self._concrete(abstract):
            if set(self.collector.collect(concrete, sets)) == keys:
                return concrete
        return None

    def _connection_value(self, connection: GraphQLObjectType, sets: tuple, got: dict) -> int:
        total = 0
        for key, field_def, nodes in self._fields(connection, sets):
            name = nodes[0].name.value
            items = got.get(key) or ()
            if name == "nodes":
                named = get_named_type(field_def.type)
                total += sum(1 + self.value(named, _sets(nodes), item) for item in items)
            elif name == "edges":
                edge = get_named_type(field_def.type)
                for node_key, node_def, node_nodes in self._fields(edge, _sets(nodes)):
                    if node_nodes[0].name.value != "node":
                        continue
                    named = get_named_type(node_def.type)
                    total += sum(1 + self.value(named, _sets(node_nodes), item.get(node_key)) for item in items)
        return total
