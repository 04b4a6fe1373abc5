"""The only place where argv becomes shell text.

Everything in hpcbridge is an argv list until it must cross into a shell: the SSH channel (OpenSSH runs
the command through the user's login shell) and `export` lines inside a generated job script. Both use
`shell_join`, so there is exactly one quoting rule to audit.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from .errors import InvalidParameter


def shell_join(argv: Sequence[str]) -> str:
    """Quote argv for a POSIX shell. Refuses NUL, which no shell argument can carry."""
    for arg in argv:
        if "\x00" in arg:
            raise InvalidParameter("argument", "contains a NUL byte", "text without NUL characters")
    return shlex.join(argv)
