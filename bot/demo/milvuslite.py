"""Scenario collections -> ONE Milvus Lite database file, one Milvus database per scenario
(`demo_<scenario>`), so each demo cluster's `milvus.db` shows only its own collections.

Vectors are random with a small dim (8) so inserting a few hundred thousand rows stays fast; the
row counts are real, so "large collection" rules see honest numbers.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bot.demo.scenario import CollectionSpec, Scenario

log = logging.getLogger(__name__)

BATCH = 50_000


def _schema(client: Any, spec: CollectionSpec) -> Any:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=spec.dim)
    for f in spec.fields:
        kwargs: dict[str, Any] = {"max_length": 256} if f.type == "VARCHAR" else {}
        schema.add_field(f.name, getattr(DataType, f.type), **kwargs)
    return schema


def _rows(spec: CollectionSpec, start: int, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    vecs = rng.random((n, spec.dim), dtype=np.float32).tolist()
    cols: list[tuple[str, list[Any]]] = []
    for f in spec.fields:
        vals = f.values or _default_values(f.type)
        cols.append((f.name, [vals[(start + i) % len(vals)] for i in range(n)]))
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"id": start + i, "vec": vecs[i]}
        for name, col in cols:
            row[name] = col[i]
        rows.append(row)
    return rows


def _default_values(type_: str) -> list[Any]:
    return {"INT64": list(range(1000)), "VARCHAR": [f"v{i}" for i in range(100)], "JSON": [{"k": f"v{i}"}
            for i in range(150)], "BOOL": [True, False], "DOUBLE": [i / 10 for i in range(100)],
            "FLOAT": [i / 10 for i in range(100)]}[type_]


def create_collection(client: Any, spec: CollectionSpec, db: str) -> None:
    ip = client.prepare_index_params()
    ip.add_index("vec", index_type=spec.index_type, metric_type=spec.metric_type, params=dict(spec.index_params))
    for f in spec.fields:
        if f.index:
            ip.add_index(f.name, index_type=f.index)
    client.create_collection(spec.name, schema=_schema(client, spec), index_params=ip,
                             consistency_level=spec.consistency)
    rng = np.random.default_rng(zlib.crc32(f"{db}/{spec.name}".encode()))
    for start in range(0, spec.rows, BATCH):
        client.insert(spec.name, _rows(spec, start, min(BATCH, spec.rows - start), rng))
    client.flush(spec.name)
    if spec.mmap:
        client.alter_collection_properties(spec.name, {"mmap.enabled": True})
    if not spec.load:
        client.release_collection(spec.name)


def build_milvus_lite(uri: str | Path, scenarios: Iterable[Scenario]) -> dict[str, int]:
    """Create every scenario's database and collections in the Milvus Lite file `uri`; returns
    rows inserted per scenario. The in-process Lite server is released at the end so another
    process (a CLI run) can open the same file."""
    from milvus_lite.server_manager import server_manager_instance
    from pymilvus import MilvusClient

    path = str(uri)
    client = MilvusClient(path)
    counts: dict[str, int] = {}
    try:
        existing = set(client.list_databases())
        for sc in scenarios:
            if not sc.milvus.collections:
                continue
            if sc.db_name not in existing:
                client.create_database(sc.db_name)
            client.use_database(sc.db_name)
            for spec in sc.milvus.collections:
                if client.has_collection(spec.name):
                    client.drop_collection(spec.name)
                create_collection(client, spec, sc.db_name)
            counts[sc.name] = sum(c.rows for c in sc.milvus.collections)
    finally:
        client.close()
        server_manager_instance.release_server(path)
    return counts
