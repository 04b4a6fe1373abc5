"""hpcbridge's own files on this machine are the owner's only: directories 0700, files 0600 from creation.

On a login node (`transport = "local"`) other users share the machine; the state directory holds every
recorded batch script, the logbook, interactive command history and the generated HTTP token. Files are
made with `os.open(..., 0o600)` (or mkstemp, which does the same) rather than chmod'ed after, so there is no
moment at which another user could open them. The process umask is left alone: jobs inherit it (Slurm passes
SLURM_UMASK), and a user's job output should keep the user's usual modes. SQLite gives a database's -wal,
-shm and -journal files the mode of the database file, so creating that file 0600 first covers them too.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

import platformdirs

log = logging.getLogger("hpcbridge")
OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO
_checked: set[Path] = set()


def state_dir_path() -> Path:
    """HPCBRIDGE_STATE_DIR, else the platform's data directory (not created here)."""
    return Path(os.environ.get("HPCBRIDGE_STATE_DIR") or platformdirs.user_data_dir("hpcbridge"))


def state_dir() -> Path:
    """The state directory, made 0700 if missing; one left readable by others (an install from before) is
    tightened with everything in it, once per process, and the log says so."""
    path = state_dir_path()
    make_dir(path)
    resolved = path.resolve()
    if resolved not in _checked:
        _checked.add(resolved)
        _tighten(path)
    return path


def make_dir(path: Path) -> Path:
    """mkdir -p with mode 0700 for every directory it makes (os.makedirs gives intermediate directories the
    umask's mode). Existing directories are left as they are."""
    missing: list[Path] = []
    at = path
    while not at.exists():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile (another process): fine
            pass
    return path


def state_subdir(*parts: str) -> Path:
    """A directory inside the state directory, made 0700 (each level)."""
    return make_dir(state_dir().joinpath(*parts))


def create_file(path: Path, *, exclusive: bool = False) -> bool:
    """Make an empty file 0600 unless it exists (exclusive: refuse an existing one with FileExistsError).
    True if this call made it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if exclusive:
            raise
        return False
    os.close(fd)
    return True


def write_text(path: Path, text: str) -> None:
    """Replace the file atomically with a new 0600 file (mkstemp makes it 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _tighten(root: Path) -> None:
    """An install from before hpcbridge made its state private: the directory was 0755, databases and
    backups 0644. Only what is too open is changed; symlinks are not followed."""
    try:
        mode = root.lstat().st_mode
    except OSError:
        return
    if not mode & OPEN_BITS:
        return
    changed = 0
    for current, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            changed += _private(Path(current) / name)
    _private(root)
    log.warning("the state directory %s was mode %o (other users could read it): now 0700, and %d entries "
                "in it made owner-only", root, stat.S_IMODE(mode), changed)


def _private(path: Path) -> int:
    try:
        st = path.lstat()
    except OSError:
        return 0
    if stat.S_ISLNK(st.st_mode) or not st.st_mode & OPEN_BITS or st.st_uid != os.getuid():
        return 0
    os.chmod(path, stat.S_IMODE(st.st_mode) & ~OPEN_BITS)
    return 1
