"""Compact text renderings for directory, file and container tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..services.containers import ContainerImage, ImageCheck
    from ..services.files import FileInfo
    from ..services.listing import DiskUsage, Entry, Listing
    from .outputs import ClusterDirectories


def human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}P"


def _entry(e: Entry, base: str) -> str:
    rel = e.path[len(base) :].lstrip("/") if e.path.startswith(base) else e.path
    suffix = "/" if e.type == "directory" else ("@" if e.type == "symlink" else "")
    size = human(e.size_bytes) if e.type != "directory" or e.size_is_total else "-"
    return f"  {rel}{suffix}  {size}  {e.modified[:16].replace('T', ' ')}"


def listing(result: Listing, title: str = "") -> str:
    head = f"{title or result.path}: {len(result.entries)} of {result.total} entries (offset {result.offset})"
    if result.counts:
        plural = {"directory": "directories"}
        head += "; " + ", ".join(f"{n} {plural.get(k, k + 's') if n != 1 else k}" for k, n in result.counts.items())
    if result.next_offset is not None:
        head += f". More: offset={result.next_offset}"
    if result.note:
        head += f" [{result.note}]"
    return "\n".join([head, *(_entry(e, result.path) for e in result.entries)])


def directories(d: ClusterDirectories) -> str:
    lines = [f"User root: {d.user_root}", "Configured directories (host path -> container mount):"]
    for r in d.directories:
        missing = "" if r.exists else "  (missing)"
        lines.append(f"  {r.kind:<15} {r.path} -> {r.mount or '-'}{missing}")
    if d.image_dirs:
        lines.append("Image directories (read-only): " + ", ".join(d.image_dirs))
    lines.append(f"Default container mounts: {d.container_mounts or '(none)'}")
    return "\n".join(lines)


def images(found: list[ContainerImage]) -> str:
    if not found:
        return "no container images found"
    lines = [f"{len(found)} images, newest first:"]
    lines += [f"  {i.path} ({human(i.size_bytes)}, {i.modified[:10]})" for i in found]
    return "\n".join(lines)


def image_check(c: ImageCheck) -> str:
    if c.valid:
        return f"{c.path}: valid squashfs image, {human(c.size_bytes)}, modified {c.modified[:16]}"
    return f"{c.path}: NOT usable: " + "; ".join(c.problems)


def file_info(i: FileInfo) -> str:
    link = f" -> {i.link_target}" if i.link_target else ""
    return (f"{i.path}{link}: {i.type}, {human(i.size_bytes)}, modified {i.modified}, {i.permissions} "
            f"{i.owner}:{i.group} (in {i.directory_type})")


def disk_usage(rows: list[DiskUsage]) -> str:
    lines = ["Disk usage:"]
    for r in rows:
        fs = ""
        if r.filesystem_size_bytes:
            fs = f" (file system {r.mount}: {human(r.filesystem_avail_bytes)} free of {human(r.filesystem_size_bytes)})"
        lines.append(f"  {r.kind:<15} {human(r.used_bytes):>8}  {r.path}{fs}{'  ' + r.note if r.note else ''}")
    quotas = {r.quota for r in rows if r.quota}
    lines += [f"quota:\n{q}" for q in quotas] or ["quota: none found (lfs quota, quota, quota_command; see get_quotas)"]
    return "\n".join(lines)
