"""The graphql-core schema: the SDL in `sdl.py` with the resolvers of `resolvers.py` and `writes.py` attached.

Every field without a resolver is its key in the source dict (graphql-core's default resolver does exactly that
for mappings). `Node` objects carry their type name under `_type`.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, build_schema

from sandbox.shopify.resolvers import FIELDS, QUERY, Resolver
from sandbox.shopify.sdl import SDL
from sandbox.shopify.writes import MUTATIONS


def _wrap(fn: Resolver) -> Any:
    def resolve(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        return fn(source, args, info.context, info.path.as_list())

    return resolve


def _resolve_type(value: Any, info: GraphQLResolveInfo, abstract: Any) -> str:
    return value["_type"]


def build() -> GraphQLSchema:
    schema = build_schema(SDL)
    query, mutation = schema.query_type, schema.mutation_type
    assert query is not None and mutation is not None
    for name, fn in QUERY.items():
        query.fields[name].resolve = _wrap(fn)
    for name, fn in MUTATIONS.items():
        mutation.fields[name].resolve = _wrap(fn)
    for (type_name, field), fn in FIELDS.items():
        owner = schema.type_map[type_name]
        assert isinstance(owner, GraphQLObjectType)
        owner.fields[field].resolve = _wrap(fn)
    node = schema.type_map["Node"]
    assert isinstance(node, GraphQLInterfaceType)
    node.resolve_type = _resolve_type
    return schema


SCHEMA = build()
RESOLVERS: dict[tuple[str, str], Resolver] = {
    **{("QueryRoot", name): fn for name, fn in QUERY.items()},
    **{("Mutation", name): fn for name, fn in MUTATIONS.items()},
    **FIELDS,
}
