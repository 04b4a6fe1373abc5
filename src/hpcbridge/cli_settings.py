"""`hpcbridge settings get|set|list` and `hpcbridge cluster show|set`: the configuration editor the config tools
and the dashboard's Settings page use (services/config_editor.py), from a shell. The person at the shell owns the
file and may always edit it; a running server takes the change when it restarts (or use the config tools)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from . import config_edit
from .services.config_editor import Change, ConfigEditor


def add_parsers(sub: Any, cluster_verbs: Any) -> None:
    show = cluster_verbs.add_parser("show", help="one cluster's keys (secrets as ***)")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    change = cluster_verbs.add_parser("set", help="change keys of a cluster in the file (comments kept)")
    change.add_argument("name")
    change.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="e.g. default_partition=gpu policy.max_gpus=4")
    change.add_argument("--unset", action="append", default=[], metavar="KEY", help="back to the default")
    settings = sub.add_parser("settings", help="read and change the settings outside the clusters")
    verbs = settings.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="every setting: value, default, when a change applies")
    listing.add_argument("--json", action="store_true")
    get = verbs.add_parser("get", help="one setting, e.g. history.active_minutes")
    get.add_argument("key")
    put = verbs.add_parser("set", help="KEY VALUE (a TOML value: 10, true, [\"a\"]); --unset for the default")
    put.add_argument("key")
    put.add_argument("value", nargs="?")
    put.add_argument("--unset", action="store_true", help="remove the key from the file")


def cluster_command(args: argparse.Namespace) -> int:
    editor = ConfigEditor(owner=True)
    if args.verb == "show":
        view = editor.cluster(args.name)
        if args.json:
            _out(json.dumps({"name": view.name, "default": view.default, "source": view.source, **view.keys},
                            indent=2, default=str))
        else:
            _out(f"# {view.name}{' (default)' if view.default else ''}, from the {view.source}")
            for key, value in view.keys.items():
                _out(f"{key} = {json.dumps(value, default=str)}")
        return 0
    values = config_edit.parse_settings(args.pairs, "KEY=VALUE")
    if not values and not args.unset:
        _say("nothing to change: give KEY=VALUE pairs or --unset KEY")
        return 2
    return _said(asyncio.run(editor.update_cluster(args.name, values, args.unset)))


def settings_command(args: argparse.Namespace) -> int:
    editor = ConfigEditor(owner=True)
    if args.verb == "list":
        lines = editor.list_settings()
        if args.json:
            _out(json.dumps([line.__dict__ for line in lines], indent=2, default=str))
        for line in [] if args.json else lines:
            mark = "" if line.in_file else "  (default)"
            _out(f"{line.key} = {json.dumps(line.value, default=str)}{mark}  # applies {line.applies}")
        return 0
    if args.verb == "get":
        _out(json.dumps(editor.get_setting(args.key).value, default=str))
        return 0
    if args.value is None and not args.unset:
        _say(f"give a value for {args.key}, or --unset")
        return 2
    return _said(asyncio.run(editor.set_setting(args.key, None if args.unset else args.value)))


def _said(change: Change) -> int:
    _say(f"{change.action} {change.target} in {change.file}" + (f"; {change.note}" if change.note else ""))
    return 0


def _out(text: str) -> None:
    print(text)  # noqa: hook - CLI output on stdout


def _say(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: hook - CLI message on stderr
