"""From the tail of a running job's stdout/stderr: how far it is (progress, rate, ETA) and what went wrong.

Pure: the service (services/progress_look.py) reads the tails on the cluster and hands them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .patterns import EXCEPTION_LINE, PROGRESS, RATE, TROUBLE


@dataclass(frozen=True)
class LogTail:
    """The end of one output file. `start_line`: the file's line number of the tail's first whole line, when
    the cluster counted the file's lines (small files); 0 when unknown."""

    stream: str  # "stdout" or "stderr"
    text: str
    cut: bool = False  # the tail starts inside the file: its first line is partial
    end_line: int = 0  # the number of newlines in the whole file, 0 when not counted
    mtime: int = 0
    size: int = 0


@dataclass(frozen=True)
class Progress:
    kind: str  # tqdm, step, epoch, percent
    n: float | None = None
    total: float | None = None
    percent: float | None = None
    rate: str = ""  # as the program wrote it: "3.10it/s"
    eta: str = ""  # remaining time, H:MM:SS or MM:SS
    line: str = ""

    def short(self) -> str:
        parts = []
        if self.n is not None and self.total:
            parts.append(f"{self.kind if self.kind != 'tqdm' else ''} {_num(self.n)}/{_num(self.total)}".strip())
        if self.percent is not None:
            parts.append(f"{self.percent:.0f}%")
        if self.rate:
            parts.append(self.rate)
        if self.eta:
            parts.append(f"ETA {self.eta}")
        return " ".join(parts)


@dataclass(frozen=True)
class Trouble:
    cause: str
    label: str
    stream: str
    where: str  # "line 812" or "3 lines from the end"
    evidence: list[str] = field(default_factory=list)

    def short(self) -> str:
        return f"{self.label} ({self.stream} {self.where})"


def visible_lines(text: str, cut: bool = False) -> list[str]:
    """The lines a terminal would show: a `\\r` returns to the line's start, so each line is what follows its
    last non-empty `\\r` segment (tqdm redraws its bar with `\\r` and ends with `\\n` only when done). A
    tail that starts inside the file drops its partial first line. The last element is what follows the
    last newline (often '')."""
    lines = text.split("\n")
    if cut:
        lines[0] = ""  # partial: keep the slot so line numbers stay right
    out = []
    for line in lines:
        segments = [s for s in line.split("\r") if s.strip()]
        out.append(segments[-1] if segments else "")
    return out


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _count(text: str) -> float | None:
    """tqdm's n_fmt/total_fmt: 1200, 1.2k (unit_scale), 3.5M."""
    scale = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
    try:
        return float(text[:-1]) * scale[text[-1]] if text[-1] in scale else float(text)
    except (ValueError, IndexError):
        return None


def clock(seconds: float) -> str:
    """tqdm's own form of a duration: MM:SS, or H:MM:SS from an hour."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def eta_from_rate(n: float, total: float, rate: float, unit: str) -> str:
    """Remaining time for `total - n` items at `rate` (`it/s` items per second, `s/it` seconds per item)."""
    if rate <= 0 or total <= n:
        return ""
    per_second = 1 / rate if unit.startswith("s/") else rate
    return clock((total - n) / per_second)


def _progress_in(line: str) -> Progress | None:
    for p in PROGRESS:
        m = p.regex.search(line)
        if not m:
            continue
        groups = m.groupdict()
        if p.kind == "tqdm":
            n, total = _count(groups["n"]), _count(groups["total"])
            rate = "" if groups["rate"] == "?" else f"{groups['rate']}{groups['unit']}"
            eta = "" if groups["eta"] == "?" else groups["eta"]
            return Progress("tqdm", n, total, float(groups["pct"]), rate, eta, line.strip())
        if p.kind == "percent":
            return Progress("percent", percent=float(groups["pct"] or groups["pct2"]), line=line.strip())
        n, total = float(groups["n"]), float(groups["total"])
        if total <= 0 or n > total:
            continue  # "step 5/0", a date-like 12/3: not progress
        rate_m = RATE.search(line)
        rate = eta = ""
        if rate_m:
            rate = f"{rate_m['rate']} {rate_m['unit']}"
            if p.kind == "step" and rate_m["unit"] in ("it/s", "s/it", "steps/s", "s/step"):
                eta = eta_from_rate(n, total, float(rate_m["rate"]), rate_m["unit"])
        return Progress(p.kind, n, total, 100 * n / total, rate, eta, line.strip())
    return None


def find_progress(tails: list[LogTail]) -> Progress | None:
    """The latest progress line: from the most recently written file first, its last matching line."""
    for tail in sorted(tails, key=lambda t: -t.mtime):
        for line in reversed(visible_lines(tail.text, tail.cut)):
            found = _progress_in(line)
            if found:
                return found
    return None


def _where(tail: LogTail, index: int, count: int) -> str:
    from_end = count - 1 - index  # lines after this one in the tail (the last element follows the last \n)
    if tail.end_line:
        return f"line {tail.end_line + 1 - from_end}"
    return f"{from_end} lines from the end" if from_end != 1 else "last line"


def _exception_after(lines: list[str], start: int) -> str:
    for line in lines[start + 1 :]:
        if line and not line.startswith((" ", "\t")) and EXCEPTION_LINE.match(line):
            return line.strip()
    return ""


def find_trouble(tails: list[LogTail]) -> list[Trouble]:
    """Every kind of trouble the tails show, most specific first (TROUBLE's order), each with the line where
    it last appears and the evidence lines (a traceback's exception line too)."""
    found: list[Trouble] = []
    for pattern in TROUBLE:
        for tail in tails:
            lines = visible_lines(tail.text, tail.cut)
            hit = next((i for i in range(len(lines) - 1, -1, -1) if pattern.regex.search(lines[i])), None)
            if hit is None:
                continue
            evidence = [lines[hit].strip()[:300]]
            label = pattern.label
            if pattern.cause == "python_exception":
                exc = _exception_after(lines, hit)
                if exc:
                    evidence.append(exc[:300])
                    label = f"{label}: {exc[:60]}"
            found.append(Trouble(pattern.cause, label, tail.stream, _where(tail, hit, len(lines)), evidence))
            break
    return found


def stalled(tails: list[LogTail], now: int, minutes: int) -> Trouble | None:
    """Neither output file written for `minutes` while the job runs (a hang, a deadlock, a dead data loader).
    Only files that hold something count: a job that never writes (a bare `sleep`) has not stopped."""
    stamps = [t.mtime for t in tails if t.mtime and t.size]
    if not stamps or minutes <= 0 or now - max(stamps) < minutes * 60:
        return None
    quiet = (now - max(stamps)) // 60
    return Trouble("log_stalled", f"no output for {quiet} min", "logs", "", [f"last write {quiet} min ago"])


def short_trouble(troubles: list[Trouble]) -> str:
    if not troubles:
        return ""
    first = troubles[0]
    text = first.short() if first.where else first.label
    return text + (f" (+{len(troubles) - 1} more)" if len(troubles) > 1 else "")
