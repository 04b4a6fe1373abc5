"""Where a user stands with the scheduler (issue 28): fairshare per account, a pending job's priority factors,
its rank among the pending jobs of its partition and the scheduler's start estimate. Pure models, shared by
the backends that read them and the services and tools that say them."""

from __future__ import annotations

from dataclasses import dataclass, field

# The priority factors in plain words, in the order they are named (sprio's columns; PBS has none).
FACTOR_WORDS = {
    "fairshare": "fairshare (how little your account and you used lately)",
    "age": "age (time already waited)",
    "job_size": "job size",
    "partition": "partition",
    "qos": "QOS",
    "assoc": "association",
    "site": "site factor",
    "nice": "nice (subtracted)",
}


@dataclass(frozen=True)
class ShareRow:
    """One line of the scheduler's fairshare tree: an account (user '') or a user's association in it."""

    account: str
    user: str
    depth: int  # 0 for the root account, 1 for its children, ...
    raw_shares: str  # as the scheduler prints it ("1", "parent", "")
    norm_shares: float | None  # the share of its siblings, 0..1
    raw_usage: int | None  # decayed usage (TRES-seconds)
    effective_usage: float | None  # 0..1 of the parent's usage
    fairshare: float | None  # the fairshare factor, 0..1 (1: used nothing); user rows only
    level_fs: float | None  # shares / usage among siblings; None: no usage yet (the scheduler prints inf)


@dataclass(frozen=True)
class AccountShare:
    """A user's standing in one account, beside the account's own among its siblings."""

    account: str
    fairshare: float | None  # the user's fairshare factor here: what sprio weighs (0..1, higher is better)
    user_shares: float | None  # the user's normalised shares in the account
    user_usage: float | None  # the user's effective usage in the account
    user_raw_usage: int | None
    account_shares: float | None  # the account's normalised shares among its siblings
    account_usage: float | None  # the account's effective usage
    account_level_fs: float | None  # >1: the account used less than its share; None: no usage yet
    default: bool = False  # the user's default account


@dataclass(frozen=True)
class Fairshare:
    cluster: str
    user: str
    accounts: list[AccountShare] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class PriorityRow:
    """One pending job's priority in one partition (sprio prints a line per partition it may run in)."""

    job_id: str
    user: str
    partition: str
    priority: int
    weighted: dict[str, float] = field(default_factory=dict)  # factor -> its share of `priority`
    normalized: dict[str, float] = field(default_factory=dict)  # factor -> 0..1 before its weight


@dataclass(frozen=True)
class StartEstimate:
    start: str  # ISO time the scheduler expects, '' when it has none
    nodes: str = ""  # the nodes it expects to use, '' when not said


@dataclass(frozen=True)
class Factor:
    name: str
    weighted: float
    normalized: float | None


@dataclass(frozen=True)
class JobStanding:
    cluster: str
    job_id: str
    state: str
    partition: str
    priority: int | None = None
    factors: list[Factor] = field(default_factory=list)  # biggest first
    biggest: str = ""
    rank: int | None = None  # 1: next to start among the partition's pending jobs, by priority
    pending_in_partition: int = 0
    estimated_start: str = ""
    estimated_nodes: str = ""
    reason: str = ""
    summary: str = ""  # one line: priority, rank, biggest factor, expected start
    notes: list[str] = field(default_factory=list)
