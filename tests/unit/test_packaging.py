"""The package is ready to publish: every import declared, extras imported lazily, one version, LICENSE, URLs,
and an MCP registry server.json that follows the registry's schema."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib import resources
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import hpcbridge

from ..conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
SRC = ROOT / "src" / "hpcbridge"
# declared but never imported by name: SQLAlchemy loads it for postgresql+psycopg:// (history/db.py)
LOADED_BY_NAME = {"psycopg"}
# fastmcp is a meta-distribution: its files come from fastmcp-slim, which it pins exactly (with the client
# and server extras we need); declaring fastmcp is what a user installs
INSTALLED_AS = {"fastmcp-slim": "fastmcp"}


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level?) for each absolute import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], top) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], top))
            visit(child, inner)

    visit(tree, True)
    return found


def _declared() -> set[str]:
    extras = [_names(reqs) for name, reqs in PROJECT["optional-dependencies"].items() if name != "test"]
    return _names(PROJECT["dependencies"]) | set().union(*extras)


def _third_party() -> dict[str, dict[str, bool]]:
    """distribution -> {file: imported at module level somewhere in it}"""
    dists = packages_distributions()
    declared = _declared()
    out: dict[str, dict[str, bool]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for module, top in _imports(path):
            if module in sys.stdlib_module_names or module in {"hpcbridge", "__future__"}:
                continue
            assert module in dists, f"{path.relative_to(ROOT)} imports {module}, which no installed package provides"
            # a module several distributions fill (fastmcp + fastmcp-slim, mcp + mcp-types) needs one declared
            providers = {INSTALLED_AS.get(canonicalize_name(d), canonicalize_name(d)) for d in dists[module]}
            for dist in (providers & declared) or providers:
                files = out.setdefault(dist, {})
                rel = str(path.relative_to(ROOT))
                files[rel] = files.get(rel, False) or top
    return out


def test_every_imported_package_is_declared_and_every_declared_one_used() -> None:
    declared = _declared()
    imported = _third_party()
    undeclared = set(imported) - declared
    assert not undeclared, f"imported by src/ but not in [project] dependencies or an extra: {undeclared}"
    unused = declared - set(imported) - LOADED_BY_NAME
    assert not unused, f"declared but never imported by src/: {unused}"


def test_extras_are_imported_only_inside_functions() -> None:
    """A plain install (no extras) must import every module: an extra's package is imported lazily."""
    base = _names(PROJECT["dependencies"])
    only_extra = set().union(*(_names(r) for n, r in PROJECT["optional-dependencies"].items() if n != "test")) - base
    assert only_extra, "no extras declared"
    for dist, files in _third_party().items():
        if dist in only_extra:
            eager = [f for f, top in files.items() if top]
            assert not eager, f"{dist} is an extra but imported at module level in {eager}"


def test_fastmcp_is_pinned_to_the_minor_we_test() -> None:
    from importlib.metadata import version

    (spec,) = [Requirement(r) for r in PROJECT["dependencies"] if Requirement(r).name == "fastmcp"]
    installed = version("fastmcp")
    assert spec.specifier.contains(installed), f"fastmcp {installed} (tested) is outside {spec.specifier}"
    major, minor = (int(x) for x in installed.split(".")[:2])
    assert not spec.specifier.contains(f"{major}.{minor + 1}.0"), "fastmcp must be pinned to one minor"


def test_one_version_everywhere() -> None:
    assert "version" in PROJECT.get("dynamic", []) and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "hpcbridge.__version__"}
    out = subprocess.run([sys.executable, "-m", "hpcbridge.cli", "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == f"hpcbridge {hpcbridge.__version__}"
    server = json.loads((ROOT / "server.json").read_text())
    assert server["version"] == hpcbridge.__version__
    assert {p["version"] for p in server["packages"]} == {hpcbridge.__version__}


def test_license_urls_and_classifiers() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    repo = json.loads((ROOT / "server.json").read_text())["repository"]["url"]
    urls = PROJECT["urls"]
    assert {"Homepage", "Repository", "Issues"} <= set(urls)
    assert all(u.startswith(repo) for u in urls.values()), urls
    assert "example.invalid" not in (ROOT / "README.md").read_text()
    assert "mcp" in PROJECT["keywords"] and "slurm" in PROJECT["keywords"]
    # PEP 639: the SPDX expression in `license` replaces License :: classifiers (setuptools refuses both)
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    pythons = {c.rsplit(" ", 1)[1] for c in PROJECT["classifiers"] if re.fullmatch(r"Programming Language :: "
                                                                                  r"Python :: 3\.\d+", c)}
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in pythons, "the Python the tests run is listed"


# The MCP registry's server.json schema, version 2025-09-29, as skillsaw (a linter for MCP registry metadata, a
# test dependency) bundles it: a byte-for-byte copy of modelcontextprotocol/static's schemas/2025-09-29 (its
# SCHEMA-SOURCE.md). Read from the installed package: the schema's URL is not reachable from every CI machine.
REGISTRY_SCHEMA: dict[str, Any] = json.loads(
    resources.files("skillsaw").joinpath("schemas/mcp_registry/v2025_09_29/server.schema.json").read_text())


def _validate(doc: dict[str, Any]) -> None:
    assert REGISTRY_SCHEMA["$id"] == doc["$schema"]
    jsonschema.Draft7Validator(REGISTRY_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


def _lint(doc: dict[str, Any], where: Path) -> subprocess.CompletedProcess[str]:
    """skillsaw's registry rules: the schema plus what the registry refuses at publish time (version ranges)."""
    (where / "server.json").write_text(json.dumps(doc))
    return subprocess.run([str(Path(sys.executable).parent / "skillsaw"), "lint", "--strict", "--type",
                           "mcp-registry", str(where)], check=False, capture_output=True, text=True, timeout=120)


def test_server_json_follows_the_registry_schema(tmp_path: Path) -> None:
    doc = json.loads((ROOT / "server.json").read_text())
    assert doc["$schema"].endswith("/2025-09-29/server.schema.json")
    _validate(doc)
    linted = _lint(doc, tmp_path)
    assert linted.returncode == 0 and "All checks passed" in linted.stdout, linted.stdout + linted.stderr
    (package,) = doc["packages"]
    assert package["identifier"] == PROJECT["name"]
    # the command a registry client builds runs our console script: `uvx hpcbridge serve`
    assert [a["value"] for a in package["packageArguments"]] == ["serve"]
    assert "hpcbridge" in PROJECT["scripts"]
    # every variable it offers is one the server reads
    from hpcbridge.config_env import ServerEnv, SlurmEnv

    known = {f"SLURM_{n.upper()}" for n in SlurmEnv.model_fields} | {
        f"HPCBRIDGE_{n.upper()}" for n in ServerEnv.model_fields}
    assert {e["name"] for e in package["environmentVariables"]} <= known


@pytest.mark.parametrize("change", [
    {"name": "hpcbridge"},  # no namespace
    {"description": "x" * 101},
    {"packages": [{"registryType": "pypi", "identifier": "hpcbridge", "version": "latest",
                   "transport": {"type": "stdio"}}]},
])
def test_the_schema_refuses_what_the_registry_refuses(change: dict[str, Any], tmp_path: Path) -> None:
    doc = json.loads((ROOT / "server.json").read_text()) | change
    with pytest.raises(jsonschema.ValidationError):
        _validate(doc)
    assert _lint(doc, tmp_path).returncode != 0


def test_a_version_range_passes_the_schema_but_not_the_registry(tmp_path: Path) -> None:
    """The schema only describes this rule ("Version ranges are rejected"); the registry enforces it."""
    doc = json.loads((ROOT / "server.json").read_text()) | {"version": "^0.1.0"}
    _validate(doc)
    linted = _lint(doc, tmp_path)
    assert linted.returncode != 0 and "exact release" in linted.stdout, linted.stdout
