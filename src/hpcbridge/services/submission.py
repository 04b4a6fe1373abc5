"""submit_job's request: the caller's parameters merged with the script's own directive block, validated.

Policy and feasibility (Cluster.submit) then judge the effective request, and the script is rendered from it.

A script already on the cluster (`script_path`) is read through the file tools' sandbox (files.read_file: the
configured directories only, realpath on the cluster, regular files, no binary) and then takes exactly the
path of a given script: its directives are read and checked, and the *content* is submitted on stdin. Not
`sbatch PATH`: what the scheduler runs is then the text that was checked (a file changed between the check and
the submission cannot slip other directives past policy), and it works the same on every scheduler.
"""

from __future__ import annotations

from typing import Any

from .. import validate
from ..backends.merge import merge, provenance
from ..errors import InvalidParameter
from ..models import JobRequest
from . import containers, files
from .cluster import Cluster

_FLAGS = ("exclusive", "hold")
_CONTAINER_ONLY = ("container_mounts", "container_workdir", "container_env", "container_name")
SCRIPT_MAX_BYTES = 1024 * 1024  # a batch script larger than this is refused, not cut


async def script_from_path(c: Cluster, path: str) -> str:
    """The whole text of a script on the cluster, read within the sandbox; refused when cut or not UTF-8."""
    if not path.strip():
        raise InvalidParameter("script_path", "it is empty", "the path of a script on the cluster")
    read = await files.read_file(c, path, max_bytes=SCRIPT_MAX_BYTES)
    if read.truncated:
        raise InvalidParameter("script_path", f"{read.path} is {read.size_bytes} bytes",
                               f"a script of at most {SCRIPT_MAX_BYTES} bytes")
    if "\ufffd" in read.content:
        raise InvalidParameter("script_path", f"{read.path} is not UTF-8 text", "a UTF-8 batch script")
    if not read.content.strip():
        raise InvalidParameter("script_path", f"{read.path} is empty", "a script with the commands to run")
    return read.content


def _text(parameter: str, value: str | None) -> str | None:
    return validate.directive_text(parameter, value) if value else None


def _time(value: str | None) -> str | None:
    if not value:
        return None
    validate.walltime_minutes("time_limit", value)
    return value.strip()


def _count(parameter: str, value: int | None) -> int | None:
    return validate.positive_int(parameter, value)


async def build_request(c: Cluster, params: dict[str, Any]) -> tuple[JobRequest, list[str]]:
    """(the effective request, 'name=value (line N)' for each value the script's directives set)."""
    script = params.get("script_content") or ""
    if params.get("script_path"):
        if script.strip():
            raise InvalidParameter("script_path", "both script_content and script_path were given", "one of them")
        script = await script_from_path(c, params["script_path"])
    if not script.strip():
        raise InvalidParameter("script_content", "it is empty", "a script or the commands to run (or script_path)")
    found, from_script = c.read_directives(script)
    p = merge(params, from_script, defaults=lambda name: False if name in _FLAGS else None)
    exports = {validate.env_name(k): v for k, v in (p.get("env") or {}).items()}
    spec = None
    if not p.get("container_image") and any(p.get(k) is not None for k in _CONTAINER_ONLY):
        raise InvalidParameter("container_image", "container options were given without an image",
                               "a container_image (or drop the container_* options)")
    if p.get("container_image"):
        spec, container_values = await containers.prepare(
            c, p["container_image"], used_by="batch", mounts=p.get("container_mounts"), workdir=p.get("container_workdir"),
            env=p.get("container_env"), name=p.get("container_name"),
            no_mount_home=p.get("no_container_mount_home"), remap_root=p.get("container_remap_root"))
        exports.update(container_values)
    req = JobRequest(
        script_content=found.script,
        job_name=_text("job_name", p.get("job_name")),
        partition=validate.optional_name("partition", p.get("partition")),
        account=validate.optional_name("account", p.get("account")),
        nodes=_count("nodes", p.get("nodes")), ntasks=_count("ntasks", p.get("ntasks")),
        cpus_per_task=_count("cpus_per_task", p.get("cpus_per_task")),
        memory=f"{validate.memory_mb('memory', p['memory'])}M" if p.get("memory") else None,
        time_limit=_time(p.get("time_limit")),
        output_file=_text("output_file", p.get("output_file")),
        error_file=_text("error_file", p.get("error_file")),
        working_directory=_text("working_directory", p.get("working_directory")),
        gpus=_count("gpus", p.get("gpus")), gpus_per_task=_count("gpus_per_task", p.get("gpus_per_task")),
        gpus_total=_count("gpus", p.get("gpus_total")),
        gpu_type=validate.optional_name("gpu_type", p.get("gpu_type")),
        array=validate.array_spec(p["array"]) if p.get("array") else None,
        dependency=validate.dependency(p["dependency"]) if p.get("dependency") else None,
        constraint=validate.constraint(p["constraint"]) if p.get("constraint") else None,
        qos=validate.optional_name("qos", p.get("qos")),
        exclusive=bool(p.get("exclusive")), hold=bool(p.get("hold")), env=exports, container=spec,
    )
    return req, provenance(from_script)
