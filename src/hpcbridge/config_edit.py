"""`hpcbridge cluster add|remove`: change the TOML configuration file without a person writing TOML.

tomlkit keeps the file's comments, order and layout; only the one `[clusters.NAME]` table changes. Every
change is validated exactly as the server reads the file (config.validate_clusters) before the file is
replaced, atomically and readable by its owner only (it may hold a key passphrase).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from .config import ClusterConfig, Policy, validate_clusters
from .errors import ConfigError, InvalidParameter, NotFound

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# never on a command line: every user of the machine sees it in `ps`
SECRET_KEYS = frozenset({"password"})
CLUSTER_KEYS = frozenset(ClusterConfig.model_fields) - {"name"}
POLICY_KEYS = frozenset(Policy.model_fields)


def read_document(path: Path) -> TOMLDocument:
    """The file as tomlkit holds it (comments included); an empty document when there is no file yet."""
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def parse_settings(pairs: list[str], parameter: str = "--set") -> dict[str, Any]:
    """KEY=VALUE pairs (`policy.max_gpus=4` for the policy table); values are TOML values when they parse as
    one (4, true, ["a", "b"]), else text. Unknown keys and secrets are refused by name."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidParameter(parameter, f"{pair!r} is not KEY=VALUE", "--set max_channels=4")
        if key in SECRET_KEYS:
            raise InvalidParameter(parameter, f"{key} on a command line is visible to every user in `ps`",
                                   f"use a key (--key-path), or write {key} into the file yourself")
        head, dot, tail = key.partition(".")
        known = POLICY_KEYS if head == "policy" and dot else CLUSTER_KEYS
        if (tail if dot else key) not in known or (dot and head != "policy"):
            close = difflib.get_close_matches(tail if dot else key, sorted(known - SECRET_KEYS), n=1)
            hint = f" (did you mean {(head + '.' if dot else '') + close[0]!r}?)" if close else ""
            raise InvalidParameter(parameter, f"unknown key {key!r}{hint}",
                                   "one of " + ", ".join(sorted(CLUSTER_KEYS - {"policy"} - SECRET_KEYS))
                                   + ", or policy." + "|policy.".join(sorted(POLICY_KEYS)))
        value = parse_value(text)
        if dot:
            values.setdefault("policy", {})[tail] = value
        else:
            values[key] = value
    return values


def parse_value(text: str) -> Any:
    """A TOML value when the text parses as one (4, true, ["a"]), else the text itself."""
    try:
        doc = tomlkit.parse(f"v = {text}")
    except TOMLKitError:
        return text
    if list(doc) != ["v"]:  # `1\nw = 2`: more than one value
        return text
    return doc.unwrap()["v"]  # a boolean comes back as a plain bool, which has no unwrap() of its own


def add_cluster(doc: TOMLDocument, name: str, values: dict[str, Any], replace: bool) -> str | None:
    """Put `[clusters.NAME]` into the document; returns the cluster that was the default before, when this
    one takes default = true from it."""
    if not NAME.match(name):
        raise InvalidParameter("name", f"{name!r} is not a cluster name", "letters, digits, _ . - (up to 64)")
    clusters = _clusters_table(doc)
    if name in clusters and not replace:
        raise InvalidParameter("name", f"cluster '{name}' is already in the file",
                               "another name, or --replace to overwrite it")
    previous = None
    if values.get("default"):
        for other, table in clusters.items():
            if other != name and isinstance(table, Table) and table.get("default"):
                del table["default"]
                previous = other
    table = tomlkit.table()
    for key, value in values.items():
        if key == "policy":
            policy = tomlkit.table()
            for k, v in value.items():
                policy[k] = v
            table["policy"] = policy
        else:
            table[key] = value
    clusters[name] = table
    check(doc)
    return previous


def remove_cluster(doc: TOMLDocument, name: str) -> None:
    clusters = _clusters_table(doc)
    _in_file(clusters, name)
    del clusters[name]
    check(doc)


def update_cluster(doc: TOMLDocument, name: str, values: dict[str, Any], unset: list[str]) -> str | None:
    """Change keys of `[clusters.NAME]` in place (the table's own comments stay); `unset` keys go back to their
    default. Returns the cluster that was the default before, when this one takes default = true."""
    clusters = _clusters_table(doc)
    table = _in_file(clusters, name)
    previous = None
    if values.get("default"):
        for other, t in clusters.items():
            if other != name and isinstance(t, Table) and t.get("default"):
                del t["default"]
                previous = other
    for key, value in values.items():
        if key == "policy":
            if "policy" not in table:
                table["policy"] = tomlkit.table()
            policy = table["policy"]
            for k, v in value.items():
                policy[k] = v  # type: ignore[index]
        else:
            table[key] = value
    for key in unset:
        head, dot, tail = key.partition(".")
        holder: Any = table.get("policy") if dot and head == "policy" else table
        if not (dot and head == "policy") and key not in CLUSTER_KEYS or dot and tail not in POLICY_KEYS:
            raise InvalidParameter("unset", f"unknown key {key!r}", "a cluster key or policy.KEY")
        if holder is not None and (tail if dot else key) in holder:
            del holder[tail if dot else key]
    if isinstance(table.get("policy"), Table) and not table["policy"]:
        del table["policy"]  # an empty [clusters.NAME.policy] left by --unset says nothing
    check(doc)
    return previous


def _in_file(clusters: Table, name: str) -> Table:
    if name not in clusters:
        raise NotFound(f"cluster '{name}' is not in the file; clusters there: "
                       f"{', '.join(clusters) or 'none'} (a cluster from SLURM_* variables is not in the file)")
    table = clusters[name]
    if not isinstance(table, Table):
        raise ConfigError(f"the file's clusters.{name} is not a table")
    return table


def check(doc: TOMLDocument) -> None:
    raw = doc.unwrap().get("clusters") or {}
    validate_clusters(raw, lambda name: "after this change")


def _clusters_table(doc: TOMLDocument) -> Table:
    if "clusters" not in doc:
        doc["clusters"] = tomlkit.table(is_super_table=True)
    clusters = doc["clusters"]
    if not isinstance(clusters, Table):
        raise ConfigError("the file's 'clusters' is not a table of [clusters.NAME] tables")
    return clusters


def write_document(path: Path, doc: TOMLDocument, verify: Callable[[Path], object] | None = None) -> None:
    """Replace the file atomically; a new file (and its directory) are readable by the owner only, an existing
    file keeps its mode. `verify(temp_path)` reads the new text as the server would before it replaces the file
    (its error leaves the file as it was)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), mode)
            text = tomlkit.dumps(doc)
            fh.write(text if text.endswith("\n") or not text else text + "\n")
        if verify is not None:
            verify(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if not isinstance(exc, OSError):
            raise
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from exc
