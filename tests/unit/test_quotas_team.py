"""Quotas (lfs quota, quota -w -p, a site command) and team usage, from recorded text (pure, no cluster).

The lfs texts follow the lfs-quota(1) man page and the Lustre Operations Manual ("Quota Verification"): a
title naming usr/grp/prj, KiB columns, `*` over the soft limit, grace `-` / time left / `none`, a long file
system name on a line of its own; the Linux quota text is `quota -w -p` (grace in epoch seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hpcbridge.models import GpuCount, Job, JobState
from hpcbridge.quotas import parse_lines, parse_table, size
from hpcbridge.services.quotas import quota_line
from hpcbridge.services.team_usage import render, summarize

LFS_USER = """Disk quotas for usr bob (uid 6000):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
    /mnt/testfs  943718* 900000 1048576 6d23h59m57s     120   10000   20000       -
"""
LFS_LONG_NAME_GROUP = """Disk quotas for grp research (gid 2000):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
/lustre/project/research
                 953000       0 1000000       -   19500*  19000   20000    none
"""
LFS_NO_LIMIT_OLD_TITLE = """Disk quotas for user alice (uid 1001):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
        /lustre       4       0       0       -       1       0       0       -
"""
LFS_HUMAN = """Disk quotas for prj 1000 (pid 1000):
     Filesystem    used   quota   limit   grace   files   quota   limit   grace
        /lustre   1.5G      0      2G       -      10       0       0       -
"""
QUOTA_WP = """Disk quotas for user alice (uid 1001):
     Filesystem  blocks   quota   limit   grace   files   quota   limit   grace
      /dev/sda1  120000* 100000  150000 1767225600     40       0       0       0
Disk quotas for group alice (gid 1001):
     Filesystem  blocks   quota   limit   grace   files   quota   limit   grace
      /dev/sda1      80       0       0       0       3       0       0       0
"""


def test_lfs_user_over_soft_limit_with_grace_warns() -> None:
    [q] = parse_table(LFS_USER, "lfs")
    assert (q.kind, q.name, q.filesystem) == ("user", "bob", "/mnt/testfs")
    assert (q.used_bytes, q.soft_bytes, q.hard_bytes) == (943718 * 1024, 900000 * 1024, 1048576 * 1024)
    assert (q.files, q.files_soft, q.files_hard, q.grace, q.files_grace) == (120, 10000, 20000, "6d23h59m57s", "")
    assert q.warning == "over the soft limit; grace left 6d23h59m57s"
    assert "WARNING" in quota_line(q) and "grace 6d23h59m57s" in quota_line(q)


def test_lfs_long_name_on_its_own_line_and_expired_files_grace() -> None:
    [q] = parse_table(LFS_LONG_NAME_GROUP, "lfs")
    assert (q.kind, q.name, q.filesystem) == ("group", "research", "/lustre/project/research")
    assert q.soft_bytes is None and q.hard_bytes == 1000000 * 1024  # 0 = no limit
    assert q.files == 19500 and q.files_grace == "expired"
    assert "grace period has run out" in q.warning


def test_lfs_old_title_and_no_limits_give_no_warning() -> None:
    [q] = parse_table(LFS_NO_LIMIT_OLD_TITLE, "lfs")
    assert (q.kind, q.used_bytes, q.hard_bytes, q.percent, q.warning) == ("user", 4096, None, None, "")


def test_lfs_human_units_and_ninety_percent_warning() -> None:
    [q] = parse_table(LFS_HUMAN, "lfs")
    assert (q.kind, q.name, q.used_bytes, q.hard_bytes) == ("project", "1000", int(1.5 * 1024**3), 2 * 1024**3)
    assert q.percent == 75.0 and q.warning == ""
    [near] = parse_table(LFS_HUMAN.replace("1.5G", "1.9G"), "lfs")
    assert near.percent == 95.0 and near.warning == "95% of the limit"


def test_linux_quota_w_p_epoch_grace() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)  # the grace ends 2026-01-01 + 0 s: 1767225600
    user, group = parse_table(QUOTA_WP.replace("1767225600", str(int(now.timestamp()) + 2 * 86400 + 3600)),
                              "quota", epoch_grace=True, now=now)
    assert (user.kind, user.used_bytes, user.grace) == ("user", 120000 * 1024, "2d1h0m")
    assert (group.kind, group.grace, group.warning) == ("group", "", "")
    [expired, _] = parse_table(QUOTA_WP, "quota", epoch_grace=True, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert expired.grace == "expired"


def test_site_lines_and_site_table() -> None:
    text = "# fileset used limit grace\n/gpfs/home 9.5G 10G\n/gpfs/work 1T 10T 3days\nnot a quota line\n"
    home, work = parse_lines(text, "site", "alice")
    assert (home.filesystem, home.used_bytes, home.hard_bytes, home.warning) == (
        "/gpfs/home", int(9.5 * 1024**3), 10 * 1024**3, "95% of the limit")
    assert (work.grace, work.percent) == ("3days", 10.0)
    assert [q.kind for q in parse_lines(LFS_USER, "site")] == ["user"]
    assert size("4k") == 4096 and size("12") == 12 and size("x1") is None


def _job(jid: str, user: str, account: str, state: JobState, gpus: tuple[GpuCount, ...] = ()) -> Job:
    return Job(jid, "j", user, state, state.value, "gpu", account, gpus=gpus)


def test_team_usage_counts_users_accounts_and_gpu_holders() -> None:
    jobs = [
        _job("1", "alice", "research", JobState.RUNNING, (GpuCount("a100", 2),)),
        _job("2", "bob", "research", JobState.RUNNING, (GpuCount("a100", 3),)),
        _job("3", "bob", "research", JobState.PENDING, (GpuCount("a100", 4),)),
        _job("4", "carol", "physics", JobState.RUNNING, (GpuCount(None, 1),)),
        _job("5", "carol", "physics", JobState.HELD),
        _job("6", "carol", "physics", JobState.COMPLETED, (GpuCount("a100", 8),)),  # finished: not counted
    ]
    u = summarize("tc", jobs, "alice", ["bob"], "test")
    rows = {r.name: r for r in u.users}
    assert (rows["bob"].gpus_running, rows["bob"].pending_jobs, rows["bob"].gpus_pending) == (3, 1, 4)
    assert rows["bob"].team and rows["alice"].me and rows["alice"].team and not rows["carol"].team
    assert (rows["carol"].running_jobs, rows["carol"].pending_jobs) == (1, 1)
    assert [r.name for r in u.users] == ["bob", "alice", "carol"]
    accounts = {r.name: r for r in u.accounts}
    assert accounts["research"].gpus_running == 5 and accounts["research"].team and not accounts["physics"].team
    a100 = next(h for h in u.gpu_types if h.gpu_type == "a100")
    assert (a100.running, list(a100.holders.items())) == (5, [("bob", 3), ("alice", 2)])
    assert (u.gpus_running, u.my_gpus, u.my_share_percent, u.team_gpus, u.team_share_percent) == (6, 2, 33.3, 5, 83.3)
    text = render(u)
    assert "who holds the a100 GPUs (5): bob 3, alice 2" in text and " * alice:" in text and " + bob:" in text


def test_team_usage_of_an_empty_queue() -> None:
    u = summarize("tc", [], "alice", [], "test")
    assert (u.gpus_running, u.my_share_percent, u.team_share_percent, u.users) == (0, None, None, [])
