"""OpenPBS's own printing of bytes (issue 25, kind 4), undone where the form allows it.

qstat (text, `-F json`, `-F dsv`), pbsnodes and pbs_rstat pass every value through show_nonprint_chars
(OpenPBS 23.06 src/lib/Libutil/misc_utils.c), which writes a byte whose *signed* char is below 32 as '^'
followed by that byte + 64 (mod 256). That takes in the control characters but tab and newline (printed
^@ .. ^_) and, because char is signed, every byte of a non-ASCII character: 'é' (C3 A9) is printed as
'^' 0x03 '^' 0xE9, which is not UTF-8 (decoded with replacement, the character is lost). Seen live on the
test cluster's OpenPBS 23.06.06 with a work directory and a `-v` value holding 'é', 'ß', '日本'.

Read from the raw bytes, before any JSON or text parsing (a mangled lead byte can be a raw '"'):
- a non-ASCII character comes back exactly: its lead byte is printed as '^' + a byte 0x00-0x3F, each
  continuation byte as '^' + a byte 0xC0-0xFF. The printer never writes a byte >= 0x80 but after a '^', so
  a '^' before one is never the user's own caret; a match is taken only when it decodes as one UTF-8
  character (valid UTF-8 text, such as a Torque server's, is left as it is).
- a control character stays as printed (^A, ^M, ^[): a caret followed by '@', 'A'-'Z', '[', '\\', ']', '^' or
  '_' is as often the user's own (a regular expression in a -v value), and the printed form cannot tell the
  two apart. This form remains ambiguous.
"""

from __future__ import annotations

import re

# one character: a mangled lead byte, then 1-3 mangled continuation bytes (0x80-0xBF + 64), not followed by a
# raw continuation byte (then the last "continuation" was a real lead byte of valid UTF-8 text). The text
# form prints a long value byte by byte and wraps it with "\n\t" wherever a line fills, also inside one
# character: that wrap is taken out with the character (a value's own newline is never inside one).
_CHARACTER = re.compile(rb"\^[\x00-\x3f](?:(?:\n\t)?\^[\xc0-\xff]){1,3}(?![\x80-\xbf])")


def _one(match: re.Match[bytes]) -> bytes:
    printed = match.group()
    original = bytes((b - 64) & 0xFF for b in printed.replace(b"\n\t", b"")[1::2])
    try:
        if len(original.decode("utf-8")) == 1:
            return original
    except UnicodeDecodeError:
        pass
    return printed


def unprinted(data: bytes) -> str:
    """An OpenPBS command's stdout as text, its non-ASCII characters restored."""
    return _CHARACTER.sub(_one, data).decode("utf-8", errors="replace")
