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
    # No flush(): Milvus Lite builds its (faiss) vector index when it flushes, about 80 s for 300k
    # HNSW rows on 2 cores. Unflushed rows are counted and searchable all the same.
    if spec.mmap:
        client.alter_collection_properties(spec.name, {"mmap.enabled": True})
    if not spec.load:
        client.release_collection(spec.name)


class LiteServer:
    """Milvus Lite on a loopback gRPC port, in this process, holding every scenario's database.

    The demo's clusters.yaml points at `uri` (http://127.0.0.1:PORT), so the CLI in another
    process reaches the same server while the demo runs. `close()` stops it without the flush
    (and index build) Milvus Lite would do on a normal close: the demo data is throwaway."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(Path(path).resolve())
        self.uri: str | None = None
        self.rows: dict[str, int] = {}

    def start(self) -> LiteServer:
        from milvus_lite.server_manager import server_manager_instance

        uri = server_manager_instance.start_and_get_uri(self.path)
        if uri is None:
            raise RuntimeError(f"Milvus Lite could not start on {self.path} (see the log above)")
        self.uri = uri
        return self

    def build(self, scenarios: Iterable[Scenario]) -> dict[str, int]:
        """Create every scenario's database and collections; returns rows inserted per scenario."""
        from pymilvus import MilvusClient

        client = MilvusClient(uri=self.uri)
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
                self.rows[sc.name] = sum(c.rows for c in sc.milvus.collections)
        finally:
            client.close()
        return self.rows

    def close(self, persist: bool = False) -> None:
        from milvus_lite.server_manager import server_manager_instance

        if self.uri is None:
            return
        self.uri = None
        if persist:  # flushes and builds the indexes: slow, but the file is complete afterwards
            server_manager_instance.release_server(self.path)
            return
        with server_manager_instance._lock:  # no public "stop without flushing"
            entry = server_manager_instance._servers.pop(self.path, None)
        if entry is not None:
            entry[0].stop(grace=0)
