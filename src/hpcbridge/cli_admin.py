"""`hpcbridge cluster add|list|remove` (edit the config file) and `hpcbridge history ...` (read the job history
from a shell, without starting a server or reaching a cluster)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from . import cli_settings, config_edit
from .backends import registry as scheduler_registry
from .config import Settings, config_file_path, load_settings
from .errors import ConfigError

CLUSTER_FLAGS = ("host", "user", "port", "key_path", "scheduler", "transport", "pbs_flavor", "pbs_server",
                 "default_partition", "account")


def add_parsers(sub: Any) -> None:
    cluster = sub.add_parser("cluster", help="add, list or remove clusters in the config file")
    verbs = cluster.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="add a [clusters.NAME] table (the file's comments are kept)")
    add.add_argument("name")
    add.add_argument("--host", help="login node, or a Host alias from ~/.ssh/config")
    add.add_argument("--user", help="SSH user")
    add.add_argument("--port", type=int, help="SSH port")
    add.add_argument("--key-path", help="private key file")
    add.add_argument("--scheduler", choices=scheduler_registry.names())
    add.add_argument("--transport", choices=["ssh", "local", "openssh"],
                     help="ssh (default), local (on the login node itself), openssh (two-factor sites: then "
                          "`hpcbridge login NAME`)")
    add.add_argument("--pbs-flavor", choices=["auto", "pbspro", "torque"])
    add.add_argument("--pbs-server")
    add.add_argument("--default-partition")
    add.add_argument("--account")
    add.add_argument("--default", action="store_true", help="make it the default cluster")
    add.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="any other cluster key, e.g. --set max_channels=4 --set policy.max_gpus=8")
    add.add_argument("--replace", action="store_true", help="overwrite a cluster of this name")
    add.add_argument("--check", action="store_true", help="then check that the cluster answers")
    verbs.add_parser("list", help="clusters the server would use (file and SLURM_*/PBS_* variables)")
    remove = verbs.add_parser("remove", help="remove a [clusters.NAME] table")
    remove.add_argument("name")
    cli_settings.add_parsers(sub, verbs)
    _history_parsers(sub)


def _history_parsers(sub: Any) -> None:
    history = sub.add_parser("history", help="search the recorded job history (no server needed)")
    verbs = history.add_subparsers(dest="verb", required=True)
    search = verbs.add_parser("search", help="jobs by words in name, script or failure cause, newest first")
    search.add_argument("words", nargs="*")
    search.add_argument("--state", action="append", default=[], help="e.g. FAILED (repeatable)")
    search.add_argument("--user")
    search.add_argument("--partition")
    search.add_argument("--project")
    search.add_argument("--since", help="ISO date or now-7days")
    search.add_argument("--until")
    search.add_argument("--cluster")
    search.add_argument("--offset", type=int, default=0)
    search.add_argument("--limit", type=int, default=30)
    job = verbs.add_parser("job", help="one recorded job with its state changes and script")
    job.add_argument("job_id")
    job.add_argument("--cluster")
    run = verbs.add_parser("run", help="a run's jobs in dependency order")
    run.add_argument("name")
    run.add_argument("--cluster")
    verbs.add_parser("projects", help="projects with job and run counts")
    summary = verbs.add_parser("summary", help="per cluster: jobs by state, last answered")
    summary.add_argument("--since", default="now-1days")
    verbs.add_parser("backup", help="an online backup of the SQLite history now")
    for parser in (search, job, run, summary):
        parser.add_argument("--json", action="store_true", help="print the structured result")


def cluster_command(args: argparse.Namespace) -> int:
    path = config_file_path()
    if args.verb == "list":
        return _list_clusters(load_settings())
    if args.verb in ("show", "set"):
        return cli_settings.cluster_command(args)
    doc = config_edit.read_document(path)
    if args.verb == "remove":
        config_edit.remove_cluster(doc, args.name)
        config_edit.write_document(path, doc)
        _say(f"removed cluster '{args.name}' from {path} (its recorded history is kept)")
        return 0
    values = {k: getattr(args, k) for k in CLUSTER_FLAGS if getattr(args, k) is not None}
    values.update(config_edit.parse_settings(args.set))
    if args.default:
        values["default"] = True
    previous = config_edit.add_cluster(doc, args.name, values, args.replace)
    config_edit.write_document(path, doc)
    _say(f"added cluster '{args.name}' to {path}"
         + (f"; it is now the default instead of '{previous}'" if previous else ""))
    if not args.check:
        _say(f"check it with: hpcbridge check --cluster {args.name}")
        return 0
    import asyncio

    from .checks import run_checks

    return asyncio.run(run_checks(load_settings(), args.name))


def _list_clusters(settings: Settings) -> int:
    print(f"# {settings.source}")  # noqa: hook - CLI output on stdout
    for name, c in settings.clusters.items():
        where = "local" if c.transport == "local" else f"{c.user + '@' if c.user else ''}{c.host}"
        where += f":{c.port}" if c.port else ""
        mark = " (default)" if name == settings.default_cluster else ""
        print(f"{name}{mark}: {c.scheduler} over {c.transport} {where}"  # noqa: hook - CLI output on stdout
              + (" read-only" if c.read_only else ""))
    return 0


def history_command(args: argparse.Namespace) -> int:
    from .history.queries import Filters, HistoryReader
    from .history.service import open_database
    from .private import state_dir as private_state_dir
    from .server import render_history as render
    from .timewords import absolute_time

    settings = load_settings()
    state_dir = private_state_dir()
    db = open_database(settings.history, state_dir)
    try:
        if args.verb == "backup":
            if db.dialect != "sqlite":
                raise ConfigError("the history is on PostgreSQL: back it up with pg_dump")
            _say(f"history backed up to {db.backup(state_dir / 'backups', settings.history.backup_keep, 'local')}")
            return 0
        reader = HistoryReader(db)
        cluster = _cluster_name(settings, getattr(args, "cluster", None))
        if args.verb == "search":
            filters = Filters.checked(" ".join(args.words), (cluster,) if cluster else (), args.state, args.user,
                                      args.partition, args.project, args.since, args.until)
            result: Any = reader.search(filters, max(args.offset, 0), min(max(args.limit, 1), 500))
            text = render.jobs(result)
        elif args.verb == "job":
            name = cluster or settings.default_cluster
            from .services.registry import Registry

            result = reader.job(name, Registry(settings).get(name).job_id(args.job_id))
            text = render.facts(result)
        elif args.verb == "run":
            result = reader.run(args.name, cluster)
            text = render.run(result)
        elif args.verb == "projects":
            result = reader.projects(0, 500)
            text = render.projects(result)
        else:
            result = reader.summary(list(settings.clusters), absolute_time("since", args.since, "the summary") or "")
            text = render.summary(result)
    finally:
        db.close()
    if getattr(args, "json", False):
        data = [asdict(r) for r in result] if isinstance(result, list) else asdict(result)
        print(json.dumps(data, indent=2, default=str))  # noqa: hook - CLI output on stdout
    else:
        print(text)  # noqa: hook - CLI output on stdout
    return 0


def _cluster_name(settings: Settings, name: str | None) -> str | None:
    if name and name not in settings.clusters:
        raise ConfigError(f"cluster '{name}' is not configured; clusters: {', '.join(settings.clusters)}")
    return name


def _say(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: hook - CLI message on stderr
