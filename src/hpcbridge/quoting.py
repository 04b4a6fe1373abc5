"""The only places where argv becomes shell text, and where a batch-script directive is quoted.

Everything in hpcbridge is an argv list until it must cross into a shell: the SSH channel (OpenSSH runs
the command through the user's login shell) and `export` lines inside a generated job script. Both use
`shell_join`, so there is exactly one quoting rule to audit.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from .errors import InvalidParameter


def shell_join(argv: Sequence[str]) -> str:
    """Quote argv for a POSIX shell. Refuses NUL, which no shell argument can carry."""
    for arg in argv:
        if "\x00" in arg:
            raise InvalidParameter("argument", "contains a NUL byte", "text without NUL characters")
    return shlex.join(argv)


def directive(flag: str, value: str | None = None, prefix: str = "#SBATCH", sep: str = "=") -> str:
    """The one place a directive is quoted (#SBATCH --flag=value, or #PBS -f value with sep=" "). sbatch and
    qsub split directive lines on blanks and honour double quotes without escapes, so a value with spaces is
    double-quoted and quotes or line breaks inside are refused."""
    if value is None:
        return f"{prefix} {flag}"
    if any(c in value for c in '"\n\r\x00'):
        raise InvalidParameter(flag.lstrip("-"), f"{value!r} contains a quote or line break", "plain text")
    return f'{prefix} {flag}{sep}"{value}"' if re.search(r"\s", value) else f"{prefix} {flag}{sep}{value}"
