"""`milvus-triage digest <cluster | log files...>`: pt-query-digest for Milvus slow logs.

With a configured cluster name the cluster's own log source is read (files, Loki or the slow-query
API) over the window. Otherwise the arguments are log files (plain or .gz; `-` is stdin), read
whole unless --window/--at narrow them.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, load_config
from bot.timewindow import WindowError, make_window

if TYPE_CHECKING:  # the digest modules load only when `digest` runs: every CLI start registers every command
    from bot.config import AppConfig, ClusterConfig
    from bot.digest import Digest, DigestBuilder
    from bot.models import MilvusEvidence, TimeWindow

DEFAULT_WINDOW = "30m"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "digest",
        help="rank slow Milvus requests by shape (like pt-query-digest)",
        description="Digest Milvus slow-request log lines (`Search slow`, `Query slow`, `HybridSearch slow`):"
                    " group them by shape (filter with literals removed, NQ bucket, params), rank by total time.",
    )
    p.add_argument("targets", nargs="+", metavar="CLUSTER|FILE",
                   help="a cluster name from clusters.yaml, or one or more log files (.gz ok, '-' = stdin)")
    p.add_argument("--window", help=f"only this long a window, e.g. 30m (cluster default {DEFAULT_WINDOW};"
                                    " files: whole file unless given)")
    p.add_argument("--at", help="end of the window (ISO 8601, HH:MM, unix seconds; default now)")
    p.add_argument("--top", type=int, default=None, help="shapes listed before the MISC row (default 20)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    p.add_argument("--collection", help="only requests on this collection")
    p.add_argument("--jobs", type=_jobs, default="auto",
                   help="files: worker processes (default auto: several only for 256 MB+ of plain logs)")
    p.add_argument("--no-milvus", action="store_true",
                   help="cluster mode: do not read collection facts from Milvus (unindexed-field analysis)")
    p.set_defaults(func=run)


def _jobs(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--jobs takes a number or 'auto', not {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("--jobs must be at least 1")
    return n


def run(args: argparse.Namespace) -> int:
    if args.top is not None and args.top < 1:
        return _fail("--top must be at least 1")
    from bot.digest import DigestBuilder
    from bot.digest.report import render_json, render_text

    targets: list[str] = args.targets
    # Only a single bare name can be a cluster: paths skip the config (and pydantic's import time,
    # a tenth of a second that bench/digest.py counts).
    maybe_cluster = len(targets) == 1 and "/" not in targets[0] and targets[0] != "-"
    config, config_error = _config(args.config) if maybe_cluster else (None, "not read")
    builder = DigestBuilder(top=args.top)
    try:
        if config is not None and len(targets) == 1 and targets[0] in config.cluster_names:
            digest = _from_cluster(config, targets[0], args, builder)
        else:
            missing = [t for t in targets if t != "-" and not Path(t).is_file()]
            if missing:
                if not maybe_cluster:
                    config, config_error = _config(args.config)
                return _fail(_unknown_target(missing, config, config_error))
            window = make_window(args.window or DEFAULT_WINDOW, args.at) if (args.window or args.at) else None
            digest = _from_files(targets, window, args.collection, builder, args.jobs)
    except WindowError as e:
        return _fail(str(e))
    if digest is None:
        return 1
    out = render_json(digest) if args.format == "json" else render_text(digest)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0


def _fail(message: str) -> int:
    print(f"milvus-triage digest: {message}", file=sys.stderr)
    return 2


def _config(path: str | None) -> tuple[AppConfig | None, str | None]:
    """The config when there is one; file mode works without it."""
    try:
        return load_config(path), None
    except ConfigError as e:
        return None, str(e)


def _unknown_target(missing: list[str], config: AppConfig | None, config_error: str | None) -> str:
    names = ", ".join(repr(m) for m in missing)
    kind = "no such cluster or file" if len(missing) == 1 else "no such clusters or files"
    if config is None:
        return f"{kind}: {names} (no clusters known: {config_error})"
    known = ", ".join(config.cluster_names) or "(none configured)"
    return f"{kind}: {names}. Known clusters: {known}"


# --------------------------------------------------------------------------- sources


def _from_cluster(config: AppConfig, name: str, args: argparse.Namespace, builder: DigestBuilder) -> Digest | None:
    from bot.slowlog.collect import collect_slowlog  # the slow-log engineer's module; imported when needed

    cluster = config.cluster(name)
    window = make_window(args.window or DEFAULT_WINDOW, args.at)
    evidence, missing = collect_slowlog(cluster, window, args.collection, sinks=[builder.add])
    if evidence is None:
        why = "; ".join(f"{m.what}: {m.reason}" for m in missing) or "no log source configured"
        print(f"milvus-triage digest: no slow log for {name!r}: {why}", file=sys.stderr)
        return None
    for m in missing:
        print(f"milvus-triage digest: warning: {m.what}: {m.reason}", file=sys.stderr)
    milvus = None if args.no_milvus or cluster.milvus is None else _milvus_facts(cluster, args.collection)
    digest = builder.finish(milvus=milvus)
    digest.source = evidence.source
    digest.lines_read = evidence.lines_read
    digest.malformed = evidence.malformed
    return digest


def _milvus_facts(cluster: ClusterConfig, collection: str | None) -> MilvusEvidence | None:
    """Collection facts for the unindexed-field analysis; a failure only costs that analysis."""
    try:
        from bot.evidence.milvus import collect_milvus

        facts, missing = collect_milvus(cluster, collection)
    except Exception as e:  # the digest itself does not need Milvus
        print(f"milvus-triage digest: warning: Milvus facts unavailable: {type(e).__name__}: {e}", file=sys.stderr)
        return None
    for m in missing:
        print(f"milvus-triage digest: warning: {m.what}: {m.reason}", file=sys.stderr)
    return facts


def _from_files(paths: list[str], window: TimeWindow | None, collection: str | None,
                builder: DigestBuilder, jobs: int | str) -> Digest:
    from bot.digest.files import digest_files, resolve_jobs

    try:
        stats, malformed = digest_files(paths, window, collection, builder, jobs=resolve_jobs(jobs, paths))
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise SystemExit(_fail(f"cannot read log: {e}")) from e
    digest = builder.finish()
    shown = ", ".join("stdin" if p == "-" else p for p in paths[:5])
    more = f" (+{len(paths) - 5} more)" if len(paths) > 5 else ""
    digest.source = f"files: {shown}{more}"
    digest.lines_read = stats.lines
    digest.malformed = malformed
    return digest
