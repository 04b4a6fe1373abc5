"""Strict checks for every caller-supplied value before it is used anywhere.

Values that name things (job ids, partitions, accounts, users, GPU types) must match a narrow pattern.
A bad value is refused with InvalidParameter naming the parameter and the valid form; nothing runs.
"""

from __future__ import annotations

import ipaddress
import re

from .errors import InvalidParameter

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$")
# Slurm: 123, array task 123_4, array ranges 123_[1-50:2,60%5] (squeue prints a pending throttled array so),
# het job component 123+1, steps 123.0 / 123.batch; `123;cluster` (sbatch --parsable) is taken as 123.
_JOB_ID = re.compile(
    r"^[0-9]{1,12}(?:_(?:[0-9]{1,9}|\[[0-9,:\-%]{1,64}\])|\+[0-9]{1,6})?(?:\.[A-Za-z0-9_.-]{1,64})?$"
)
# PBS: 123.server, whole array 123[].server, subjob 123[4].server, subjob range 123[1-9:2].server, and any of
# them routed to a server as id@server (qdel/qhold/qrls/qstat take it; backends/pbs/ids.py).
_PBS_JOB_ID = re.compile(
    r"^[0-9]{1,12}(?:\[(?:[0-9]+(?:-[0-9]+(?::[0-9]+)?)?)?\])?(?:\.[A-Za-z0-9_.-]{1,128})?(?:@[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
_ARRAY = re.compile(r"^[0-9]+(?:-[0-9]+)?(?::[0-9]+)?(?:,[0-9]+(?:-[0-9]+)?(?::[0-9]+)?)*(?:%[0-9]+)?$")
# a job id in a dependency: Slurm's 123, 123_4, 123+1, or PBS's 123.server, 123[].server (PBS names its jobs
# with the server's name, and `-W depend=afterok:123.server` is how qsub takes them)
_DEP_ID = r"[0-9]{1,12}(?:_[0-9]{1,9}|\[[0-9]{0,9}\])?(?:\+[0-9]+)?(?:\.[A-Za-z0-9][A-Za-z0-9.-]{0,63})?"
_DEPENDENCY = re.compile(
    rf"^(?:singleton|(?:after|afterany|afternotok|afterok|aftercorr|afterburstbuffer)"
    rf"(?::{_DEP_ID})+)(?:[,?](?:singleton|(?:after|afterany|afternotok"
    rf"|afterok|aftercorr|afterburstbuffer)(?::{_DEP_ID})+))*$"
)
_CONSTRAINT = re.compile(r"^[A-Za-z0-9_.\-&|\[\]()*:!,]{1,256}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)(?:i?B)?$", re.IGNORECASE)
_SIGNAL = re.compile(r"^(?:SIG)?([A-Z][A-Z0-9]{1,10}|[0-9]{1,2})$")
# Free text that ends up inside a #SBATCH/#PBS directive or an argv element the scheduler re-parses.
_DIRECTIVE_TEXT = re.compile(r"^[A-Za-z0-9_.,:@%=+/ ~-]{1,1024}$")

_MODULE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+/@-]{0,127}$")
NAME_FORM = "letters, digits and . _ + - (at most 128 characters, not starting with - or .)"


def name(parameter: str, value: str) -> str:
    """Partition, account, user, QOS, GPU type, node, cluster names."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidParameter(parameter, f"{value!r} is not a plain name", NAME_FORM)
    return value


def optional_name(parameter: str, value: str | None) -> str | None:
    return None if value in (None, "") else name(parameter, value)  # type: ignore[arg-type]


def job_id(value: str | int, parameter: str = "job_id", *, pbs: bool = False) -> str:
    text = str(value).strip()
    if not pbs and re.fullmatch(r"[0-9][^;]*;[A-Za-z][A-Za-z0-9_.-]{0,63}", text):
        text = text.partition(";")[0]  # sbatch --parsable's 'id;cluster'
    pattern = _PBS_JOB_ID if pbs else _JOB_ID
    if not pattern.match(text):
        form = "a job id like 1234 or 1234.server (arrays 1234[].server / 1234[5].server)" if pbs else (
            "a job id like 1234, an array task like 1234_7 (arrays 1234_[1-9%2]), a het job component like "
            "1234+1, or a step like 1234.0"
        )
        raise InvalidParameter(parameter, f"{text!r} is not a job id", form)
    return text


def positive_int(parameter: str, value: int | None, *, maximum: int = 1_000_000) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > maximum:
        raise InvalidParameter(parameter, f"{value!r} is out of range", f"an integer from 1 to {maximum}")
    return value


def walltime_minutes(parameter: str, value: str) -> int:
    """Parse Slurm time forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. Returns minutes (rounded up)."""
    text = value.strip()
    form = "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. 30, 4:00:00, 1-12:00:00)"
    m = re.match(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$", text)
    if not m:
        raise InvalidParameter(parameter, f"{value!r} is not a time limit", form)
    days, a, b, c = m.groups()
    nums = [int(a)] + [int(x) for x in (b, c) if x is not None]
    if days is not None:
        hours, minutes, seconds = (nums + [0, 0])[:3]
        total_s = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    elif len(nums) == 1:
        total_s = nums[0] * 60
    elif len(nums) == 2:
        total_s = nums[0] * 60 + nums[1]
    else:
        total_s = nums[0] * 3600 + nums[1] * 60 + nums[2]
    if total_s <= 0:
        raise InvalidParameter(parameter, f"{value!r} is zero", form)
    return -(-total_s // 60)


def format_minutes(minutes: int | None) -> str:
    if minutes is None:
        return "UNLIMITED"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00" if days else f"{hours}:{mins:02d}:00"


def memory_mb(parameter: str, value: str) -> int:
    """'4G', '4000M', '512', '1.5T' -> megabytes (Slurm's default unit is M)."""
    m = _MEMORY.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise InvalidParameter(parameter, f"{value!r} is not a memory size", "a size like 4000M, 16G or 1T")
    number, unit = float(m.group(1)), m.group(2).upper()
    factor = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}[unit]
    mb = int(number * factor + 0.999)
    if mb <= 0:
        raise InvalidParameter(parameter, f"{value!r} is zero", "a size like 4000M, 16G or 1T")
    return mb


def array_spec(value: str) -> str:
    if not _ARRAY.match(value):
        raise InvalidParameter("array", f"{value!r} is not an array range", "like 0-99, 1,3,5, 0-15:4 or 0-999%10")
    return value


def dependency(value: str) -> str:
    if not _DEPENDENCY.match(value):
        raise InvalidParameter(
            "dependency", f"{value!r} is not a dependency", "like afterok:123, afterany:123:124 or singleton"
        )
    return value


def constraint(value: str) -> str:
    if not _CONSTRAINT.match(value):
        raise InvalidParameter("constraint", f"{value!r} has unsupported characters", "features joined by & | , ( ) [ ]")
    return value


def signal_name(value: str) -> str:
    text = value.strip().upper()
    m = _SIGNAL.match(text)
    if not m:
        raise InvalidParameter("signal", f"{value!r} is not a signal", "a name like SIGTERM, TERM, KILL or USR1, or a number")
    return m.group(1)


def env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise InvalidParameter("env", f"{value!r} is not a variable name", "letters, digits and _, not starting with a digit")
    return value


def directive_text(parameter: str, value: str) -> str:
    """Text the scheduler itself re-parses (#SBATCH values, job names, paths)."""
    if not isinstance(value, str) or not _DIRECTIVE_TEXT.match(value) or value.startswith("-"):
        raise InvalidParameter(
            parameter,
            f"{value!r} contains characters the scheduler cannot take literally",
            "letters, digits, spaces and . _ , : @ % = + / ~ - (no quotes, $, ;, `, newlines; not starting with -)",
        )
    return value


def module_name(parameter: str, value: str) -> str:
    """An environment-modules name as `module load` takes it: cuda/12.6, gcc@13, python/3.11-conda."""
    if not isinstance(value, str) or not _MODULE.match(value):
        raise InvalidParameter(parameter, f"{value!r} is not a module name",
                               "letters, digits and . _ + / @ - such as cuda/12.6")
    return value


def directory_path(parameter: str, value: str) -> str:
    """An absolute (or ~/) directory the cluster user names: a venv, a notebook root."""
    directive_text(parameter, value)
    if not value.startswith(("/", "~/")) or "/../" in f"{value}/":
        raise InvalidParameter(parameter, f"{value!r} is not an absolute path", "/path/to/dir or ~/dir, without ..")
    return value


# Where a host or user goes, OpenSSH (and asyncssh) substitute it into ~/.ssh/config's ProxyCommand (%h, %r),
# which a shell runs: blanks, quotes or a leading - there become options or commands. So only plain names.
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}$")
HOST_FORM = ("a host name or ~/.ssh/config Host alias (letters, digits and . _ -, not starting with - or .), "
             "or an IPv4 or IPv6 address without brackets (the port goes in port)")
USER_FORM = "a user name: letters, digits and . _ - @ (not starting with -, . or @; no blanks, quotes or %)"


def host_problem(value: object) -> str | None:
    """None for a host name, alias or IP literal; else what is wrong with it (value quoted, cut to 80)."""
    if isinstance(value, str) and _HOST.match(value):
        return None
    if isinstance(value, str) and ":" in value and "%" not in value:
        try:
            ipaddress.IPv6Address(value)
            return None
        except ValueError:
            pass
    # user@host and host:port are how people write a login: say where those parts go
    hint = ""
    if isinstance(value, str) and "@" in value:
        hint = f" (the user goes in user: user = {value.partition('@')[0]!r}, host = {value.rpartition('@')[2]!r})"
    elif isinstance(value, str) and re.fullmatch(r"[^:]+:[0-9]{1,5}", value):
        name, _, port = value.partition(":")
        hint = f" (the port goes in port: host = {name!r}, port = {port})"
    return f"{_shown(value)} is not a host name or IP address{hint}"


def user_problem(value: object) -> str | None:
    if isinstance(value, str) and _USER.match(value):
        return None
    return f"{_shown(value)} is not a user name"


def ssh_host(parameter: str, value: str) -> str:
    """A host bound for ssh's command line or a ProxyCommand: refused unless it is plain (host_problem)."""
    problem = host_problem(value)
    if problem:
        raise InvalidParameter(parameter, problem, HOST_FORM)
    return value


def ssh_user(parameter: str, value: str) -> str:
    problem = user_problem(value)
    if problem:
        raise InvalidParameter(parameter, problem, USER_FORM)
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# Pyxis splits --container-mounts on ',' and ':' (its README): plain path characters only.
_MOUNT = re.compile(r"^[A-Za-z0-9_./+@%~-]+(?::[A-Za-z0-9_./+@%~-]+)?(?::[a-z+]+)?$")


def container_mounts(value: str) -> str:
    """'SRC:DST[:FLAGS],...' with plain path characters only (Pyxis splits on ',' and ':')."""
    items = [m.strip() for m in value.split(",") if m.strip()]
    if not all(_MOUNT.match(m) for m in items):
        raise InvalidParameter("container_mounts", f"{value!r} is not a mount list",
                               "SRC:DST[:ro] pairs separated by commas, e.g. /data:/data:ro,/scratch:/scratch")
    return ",".join(items)


def container_env(value: str | None) -> tuple[tuple[str, ...], dict[str, str]]:
    """'A=1,B=2' or 'A,B' -> (names, values to export)."""
    names: list[str] = []
    values: dict[str, str] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        name, sep, val = item.strip().partition("=")
        names.append(env_name(name))
        if sep:
            values[name] = val
    return tuple(names), values
