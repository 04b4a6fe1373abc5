"""What is checked before anything reaches TensorPool or the disk: the API key's source, SSH public keys, the
ssh command an instance is reached with, and ids. Pure, except reading the key."""

from __future__ import annotations

import os
import re
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from ..errors import ConfigError, InvalidParameter, PolicyError

KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_INSTANCE_TYPE = re.compile(r"^[0-9]{1,3}x[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def api_key(environ: dict[str, str], key_file: str | None) -> str:
    """TENSORPOOL_KEY, else TENSORPOOL_API_KEY (the seed server's name), else the key file (owner-only)."""
    for name in ("TENSORPOOL_KEY", "TENSORPOOL_API_KEY"):
        if environ.get(name, "").strip():
            return environ[name].strip()
    if not key_file:
        raise ConfigError("no TensorPool API key: set TENSORPOOL_KEY (or TENSORPOOL_API_KEY) in hpcbridge's "
                          "environment, or tensorpool_key_file in the account's table")
    path = Path(key_file).expanduser()
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it")
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the TensorPool key file {path}: {exc.strerror}") from exc


def identifier(parameter: str, value: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidParameter(parameter, f"{value!r} is not an id", "letters, digits, . _ - such as c-1a2b3c")
    return value


def engine_id(kind: str, value: object, after: str) -> str | None:
    """An id the engine answered (None when it gave none), held to the same pattern as ids we send, before it
    reaches a URL path, a file path or a tool answer. `after` says what may have happened at the engine."""
    if value is None or (isinstance(value, str) and _ID.match(value)):
        return value
    raise PolicyError(f"the engine answered a {kind} that is not an id: {str(value)[:100]!r} (an id is letters, "
                      f"digits, . _ - starting with a letter or digit); it was not used. {after}")


def instance_type(value: str) -> str:
    if not _INSTANCE_TYPE.match(value or ""):
        raise InvalidParameter("instance_type", f"{value!r}", "COUNTxTYPE such as 1xH100 or 8xB200")
    return value


def public_key(value: str) -> str:
    """Exactly one OpenSSH public key line of a known type, whose blob really is a key of that type."""
    line = (value or "").strip()
    form = f"one OpenSSH public key line: TYPE BASE64 [comment], TYPE one of {', '.join(KEY_TYPES)}"
    if not line or "\n" in line or "\r" in line:
        raise InvalidParameter("ssh_public_key", "empty or more than one line", form)
    kind = line.split()[0]
    if kind not in KEY_TYPES:
        raise InvalidParameter("ssh_public_key", f"key type {kind[:40]!r} (a private key, or not a key?)", form)
    try:
        key = asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise InvalidParameter("ssh_public_key", f"not a valid {kind} key ({exc})", form) from None
    if key.get_algorithm() != kind and not (kind == "ssh-rsa" and key.get_algorithm().startswith("rsa")):
        raise InvalidParameter("ssh_public_key", f"declared {kind} but the key is {key.get_algorithm()}", form)
    return line


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str | None
    port: int | None


def ssh_target(command: str) -> SshTarget:
    """The `ssh ...` command /ssh/<instance> answers (the CLI execs it): only `ssh [-p PORT] [-i FILE]
    [-o K=V] [USER@]HOST` is understood; anything else is refused rather than guessed."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise PolicyError(f"the engine's ssh command is malformed: {exc}") from exc
    if not argv or os.path.basename(argv[0]) != "ssh":
        raise PolicyError(f"the engine's ssh command is not ssh: {command[:200]!r}")
    port: int | None = None
    rest = argv[1:]
    destination = None
    while rest:
        arg = rest.pop(0)
        if arg in ("-p", "-i", "-o") and rest:
            value = rest.pop(0)
            if arg == "-p":
                port = int(value) if value.isdigit() else None
        elif not arg.startswith("-") and destination is None:
            destination = arg
        else:
            raise PolicyError(f"the engine's ssh command has an option hpcbridge does not take: {arg[:50]!r}")
    if not destination:
        raise PolicyError("the engine's ssh command names no host")
    user, _, host = destination.rpartition("@")
    return SshTarget(host, user or None, port)
