"""promlab: a real Prometheus with known data, for tests and the demo.

Three steps, each usable alone:

    from bot.promlab import OpenMetricsWriter, window_ranges, build_tsdb, PrometheusServer

    end = 1_800_000_000.0                                   # unix seconds (or a datetime)
    w = OpenMetricsWriter(window_ranges(end, 1800), step_s=15)   # the 30 m window + one day earlier
    w.histogram("milvus_querynode_sq_queue_latency", {"node_id": "1", "query_type": "search"},
                lambda t: [(450.0, 40), (20.0, 960)] if t > end - 86400 / 2 else [(20.0, 1000)])
    w.counter("milvus_proxy_req_count", {"function_name": "Search", "status": "success"}, rate=20.0)
    tsdb = build_tsdb(w, tmp_dir)                           # OpenMetrics file + promtool blocks
    with PrometheusServer(tsdb) as prom:                    # real /usr/bin/prometheus on 127.0.0.1
        ... prom.url ...

Scraping live targets instead (e.g. a real Milvus on :9091):

    with PrometheusServer(scrape_configs=[scrape_job("milvus", ["127.0.0.1:9091"])],
                          scrape_interval="5s") as prom: ...

Missing binaries raise PromlabError saying `apt-get install prometheus`.
"""

from __future__ import annotations

from pathlib import Path

from bot.promlab.openmetrics import (
    MILVUS_BUCKETS,
    OpenMetricsWriter,
    TimeRange,
    escape_label_value,
    expected_quantile,
    format_value,
    window_ranges,
)
from bot.promlab.server import PrometheusServer, free_port, scrape_job
from bot.promlab.tsdb import INSTALL_HINT, PromlabError, create_blocks, find_binary


def build_tsdb(writer: OpenMetricsWriter, workdir: str | Path, name: str = "data") -> Path:
    """Write `writer` to WORKDIR/NAME.om and turn it into blocks under WORKDIR/NAME-tsdb; returns that dir."""
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    om = writer.write(wd / f"{name}.om")
    return create_blocks(om, wd / f"{name}-tsdb")


__all__ = [
    "INSTALL_HINT",
    "MILVUS_BUCKETS",
    "OpenMetricsWriter",
    "PrometheusServer",
    "PromlabError",
    "TimeRange",
    "build_tsdb",
    "create_blocks",
    "escape_label_value",
    "expected_quantile",
    "find_binary",
    "format_value",
    "free_port",
    "scrape_job",
    "window_ranges",
]
