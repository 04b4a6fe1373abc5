"""Configuration: the Slurm plan's environment variables (one cluster) and a TOML file (any number).

Precedence: the TOML file (HPCBRIDGE_CONFIG, else <platform config dir>/hpcbridge/config.toml) defines
clusters; the SLURM_* variables define one more cluster, named SLURM_CLUSTER_NAME (default "default").
If the file already has a cluster of that name, the variables that are set override its keys.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .backends import registry as scheduler_registry
from .config_env import PbsEnv, ServerEnv, SlurmEnv, split_csv, ssh_identity
from .errors import ConfigError, NoClusterConfigured


class Policy(BaseModel):
    """Limits enforced before anything is sent to the scheduler."""

    model_config = ConfigDict(extra="forbid")
    allowed_partitions: list[str] = Field(default_factory=list, description="empty = any partition")
    allowed_accounts: list[str] = Field(default_factory=list, description="empty = any account")
    max_gpus: int | None = Field(default=None, description="max GPUs per job")
    max_nodes: int | None = Field(default=None, description="max nodes per job")
    max_time: str | None = Field(default=None, description="max walltime per job, e.g. 2-00:00:00")
    allowed_image_dirs: list[str] = Field(default_factory=list,
                                          description="container images only from these directories")


class ClusterConfig(BaseModel):
    """One cluster (`[clusters.NAME]` in the TOML file)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("default", description="cluster name used in tool calls")
    scheduler: str = Field("slurm", description="the cluster's scheduler: " + ", ".join(
        f"{e.name} ({e.description})" for e in map(scheduler_registry.entry, scheduler_registry.names())))
    provider: Literal["tensorpool"] | None = Field(None, description="tensorpool: a TensorPool account (cloud GPU "
                                                                     "clusters) instead of a scheduler")
    tensorpool_engine: str | None = Field(None, description="TensorPool only: engine URL (default "
                                                            "TENSORPOOL_ENGINE, else TensorPool's)")
    tensorpool_key_file: str | None = Field(None, description="TensorPool only: API key file (0600), when "
                                                              "TENSORPOOL_KEY is not set")
    tensorpool_results_dir: str | None = Field(None, description="TensorPool only: local directory job "
                                                                 "outputs are pulled into")
    tensorpool_pull_max_files: int = Field(1000, ge=1, description="TensorPool only: most files one pull takes")
    tensorpool_pull_max_file_bytes: int = Field(10 * 1024**3, ge=1, description="TensorPool only: largest file "
                                                                                "a pull takes (bytes)")
    tensorpool_pull_max_bytes: int = Field(20 * 1024**3, ge=1, description="TensorPool only: most bytes one "
                                                                           "pull takes in all")
    pbs_flavor: Literal["auto", "pbspro", "torque"] = Field(
        "auto", description="PBS only: pbspro (-F json, script on stdin) or torque (text, script file); "
                            "auto asks qstat --version")
    pbs_server: str | None = Field(None, description="PBS only: server to talk to (exported as PBS_SERVER "
                                                     "and PBS_DEFAULT); default: the client's pbs.conf")
    transport: Literal["ssh", "local", "openssh"] = Field(
        "ssh", description="ssh (asyncssh) from anywhere, local on a login node, or openssh: ride the user's "
                           "OpenSSH ControlMaster (two-factor sites; log in with `hpcbridge login`)")
    control_path: str | None = Field(None, description="openssh only: the master's socket (default: the "
                                                        "ControlPath your ssh config gives the host, else "
                                                        "~/.ssh/hpcbridge-NAME.sock)")
    control_persist: str = Field("8h", description="openssh only: how long the master stays after the last "
                                                   "command (ssh_config ControlPersist)")
    host: str | None = Field(None, description="login node host name, or a Host alias from ~/.ssh/config")
    port: int | None = Field(None, ge=1, le=65535, description="SSH port (default: from ~/.ssh/config, else 22)")
    user: str | None = Field(None, description="SSH user (default: from ~/.ssh/config, else local user)")
    key_path: str | None = Field(None, description="private key file (default: agent and ~/.ssh/id_*)")
    password: SecretStr | None = Field(None, description="key passphrase, or password when no key is set")
    known_hosts: str | None = Field(None, description="known_hosts file (default ~/.ssh/known_hosts)")
    verify_host_key: bool = Field(True, description="false turns host key checking off (logged; unsafe)")
    ssh_config: str | None = Field(None, description="OpenSSH client config file (default ~/.ssh/config)")
    connect_timeout: float = Field(15.0, gt=0, description="seconds to establish the SSH connection")
    command_timeout: float = Field(60.0, gt=0, description="seconds before a scheduler command is abandoned")
    max_channels: int = Field(8, ge=1, description="concurrent SSH channels (keep below sshd MaxSessions=10)")
    shell_workers: int = Field(2, ge=0, description="long-lived remote shells for read-only commands (0 = off)")
    default_partition: str | None = Field(None, description="partition for submit_job when none is given")
    interactive_partition: str = Field("interactive", description="partition for interactive work "
                                                                  "(ranked last for batch recommendations)")
    interactive_account: str | None = Field(None, description="account for interactive sessions")
    interactive_default_time: str = Field("4:00:00", description="time limit of sessions and profiles")
    interactive_default_gpus: int = Field(8, description="GPUs per node of the dev-8gpu profile")
    interactive_session_timeout: int = Field(3600, description="seconds idle before a session is ended")
    max_sessions: int = Field(4, description="interactive sessions this server may hold at once")
    max_session_time: str = Field("24:00:00", description="longest time limit a session may ask for")
    reap_orphans: bool = Field(True, description="on start, cancel allocations left by a dead hpcbridge")
    jupyter_venv: str | None = Field(None, description="Python environment of Jupyter kernels: a venv or conda "
                                                       "directory (bin/activate) holding jupyter-server, ipykernel")
    jupyter_modules: list[str] = Field(default_factory=list, description="modules to `module load` before "
                                                                          "the Jupyter server starts")
    notebook_dir: str | None = Field(None, description="where notebooks are saved (default user_root/notebooks, "
                                                       "else ~/notebooks)")
    persist_kernels: bool = Field(False, description="true: a Jupyter server job outlives hpcbridge (until its "
                                                     "time limit or the idle timeout) and is reattached")
    kernel_idle_timeout: float = Field(30.0, ge=0.5, description="minutes without execution before a Jupyter "
                                                                 "server job ends itself")
    jupyter_start_timeout: int = Field(300, ge=10, description="seconds a Jupyter server may take to start "
                                                               "(queue wait included) before it is cancelled")
    jupyter_warm_start: bool = Field(False, description="true: submit the Jupyter server job when hpcbridge "
                                                        "starts (in the background), so the first cell does "
                                                        "not wait for the queue")
    gpu_partitions: list[str] = Field(default_factory=list, description="partitions with GPUs (auto-detected if empty)")
    cpu_partitions: list[str] = Field(default_factory=list, description="CPU-only partitions (auto-detected if empty)")
    account: str | None = Field(None, description="account for submit_job when none is given")
    work_dir: str | None = Field(None, description="default working directory for jobs")
    default: bool = Field(False, description="true on the cluster used when a tool gets no cluster")
    allow_shell: bool = Field(False, description="enable run_shell_command")
    read_only: bool = Field(False, description="true: no tool may change anything on this cluster (submit, "
                                               "cancel, sessions, writes, deletes are refused or absent)")
    shell_allowlist: list[str] = Field(default_factory=list, description="programs run_shell_command may run (empty = any)")
    cache_ttl: float = Field(2.0, ge=0, description="seconds a queue listing is reused across callers")
    log_stall_minutes: int = Field(10, ge=0, description="a running job's output unchanged this long is "
                                                         "flagged as trouble (0: never)")
    team: list[str] = Field(default_factory=list, description="user names of your team, highlighted in "
                                                             "get_team_usage and on the compute page")
    quota_command: list[str] = Field(default_factory=list, description="site quota command (argv; {user} and "
                                     "{group} are filled in) for GPFS/NFS/vendor file systems: prints an "
                                     "lfs-style table or `FILESYSTEM USED LIMIT [GRACE]` lines")
    user_root: str | None = Field(None, description="base of the directories below (default: login home)")
    dir_datasets: str | None = Field(None, description="datasets (default user_root/data) -> /datasets")
    dir_results: str | None = Field(None, description="results (default user_root/results) -> /results")
    dir_models: str | None = Field(None, description="checkpoints (default user_root/models) -> /models")
    dir_logs: str | None = Field(None, description="job logs (default user_root/logs) -> /logs")
    dir_projects: str | None = Field(None, description="source (default user_root/Projects) -> /projects")
    dir_scratch: str | None = Field(None, description="scratch (no default) -> /scratch")
    dir_home: str | None = Field(None, description="home (no default) -> /home")
    dir_container_root: str | None = Field(None, description="container /root (default user_root/root)")
    gpfs_root: str | None = Field(None, description="parallel file system root (no default) -> /lustre")
    image_dirs: list[str] = Field(default_factory=list, description="directories holding .sqsh images")
    default_image: str | None = Field(None, description="container image when a tool asks for the default")
    policy: Policy = Field(default_factory=lambda: Policy(), description="limits enforced before submission")

    @field_validator("gpu_partitions", "cpu_partitions", "shell_allowlist", "image_dirs", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("jupyter_modules", mode="before")
    @classmethod
    def _modules(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        """The registry's schedulers (backends/registry.py), so a registered one is a valid value too."""
        if value not in scheduler_registry.names():
            raise PydanticCustomError("scheduler", "'{value}' is not a scheduler hpcbridge knows; one of: {known}",
                                      {"value": value, "known": ", ".join(scheduler_registry.names())})
        return value

    @field_validator("host", "user")
    @classmethod
    def _identity(cls, value: object, info: ValidationInfo) -> object:
        return ssh_identity(str(info.field_name), value)

    def explicit_dirs(self) -> dict[str, str | None]:
        return {
            "datasets": self.dir_datasets, "results": self.dir_results, "models": self.dir_models,
            "logs": self.dir_logs, "projects": self.dir_projects, "scratch": self.dir_scratch,
            "home": self.dir_home, "container_root": self.dir_container_root, "gpfs": self.gpfs_root,
        }


class HttpToken(BaseModel):
    """A named token (`[[http.tokens]]`): the name is the principal that owns sessions and profiles and that
    the audit log records."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="the principal")
    token_file: str = Field(description="file holding the token (at least 32 characters)")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # 'local' is stdio's and the CLI's principal (the machine's owner): an HTTP client named so would share
        # its sessions, profiles and notebooks. The name is also a notebook directory: no '.', '..', '.x'.
        if value == "local":
            raise ValueError("'local' is reserved for stdio and the CLI (the machine's owner); name the token "
                             "after its client, e.g. 'laptop' or 'ana'")
        if value.startswith("."):
            raise ValueError(f"{value!r} starts with '.'; a principal name starts with a letter, digit or _")
        return value


class HttpConfig(BaseModel):
    """`[http]` in the TOML file: who may connect to `serve --transport http`, and from where."""

    model_config = ConfigDict(extra="forbid")
    token_file: str | None = Field(None, description="file holding the single token (principal 'default')")
    tokens: list[HttpToken] = Field(default_factory=list, description="named tokens, one per client")
    allowed_hosts: list[str] = Field(default_factory=list,
                                     description="extra Host header names accepted (reverse proxies)")
    allowed_origins: list[str] = Field(default_factory=list,
                                       description="extra browser Origins accepted, e.g. https://hpc.example.org")

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


class DashboardConfig(BaseModel):
    """`[dashboard]` in the TOML file: the web pages served beside /mcp."""

    model_config = ConfigDict(extra="forbid")
    cookie_secure: bool = Field(False, description="mark the session cookie Secure: a dashboard behind a TLS "
                                "proxy (it sees plain http; browsers then send the cookie over HTTPS only)")
    dim_patterns: list[str] = Field(default_factory=list, max_length=100,
                                    description="job names (shell patterns, e.g. 'jupyter*') of long-running "
                                                "background jobs the board shows faded")
    image_max_kb: int = Field(2048, ge=16, le=65536, description="largest image pasted into a logbook entry, "
                              "in KB (PNG, JPEG, GIF or WebP; kept in the state directory)")


def _dashboard_config(data: dict[str, object], server: ServerEnv) -> DashboardConfig:
    """[dashboard] from the file, HPCBRIDGE_DASHBOARD_* from the environment taking precedence."""
    table: dict[str, Any] = dict(cast(dict[str, Any], data.get("dashboard") or {}))
    if server.dashboard_cookie_secure is not None:
        table["cookie_secure"] = server.dashboard_cookie_secure
    try:
        return DashboardConfig.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(f"[dashboard]: {_first_error(exc, DashboardConfig)}") from exc


def _config_section(data: dict[str, object]) -> ConfigSection:
    try:
        return ConfigSection.model_validate(dict(cast(dict[str, Any], data.get("config") or {})))
    except ValidationError as exc:
        raise ConfigError(f"[config]: {_first_error(exc, ConfigSection)}") from exc


class HistoryConfig(BaseModel):
    """`[history]` in the TOML file: the job history's store and the recorder's polling rule."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="record jobs while someone is looking (false: no recorder)")
    database_url: SecretStr | None = Field(
        None, description="postgresql://USER:PASSWORD@HOST/DB for a team server (default: SQLite in the state "
                          "directory)")
    active_minutes: float = Field(5.0, gt=0, le=1440, description="the recorder polls while an MCP call came "
                                                                    "in the last N minutes (or a dashboard is open)")
    users: Literal["me", "all"] = Field("me", description="whose jobs are recorded: the cluster user's, or "
                                                          "everyone's in the queue")
    project_separator: str = Field("_", min_length=1, max_length=3,
                                   description="a project is the job name's prefix before this")
    campaigns: bool = Field(False, description="names follow <project>_<campaign>_<run>: the projects pages "
                                               "group a project's jobs by campaign (the second part)")
    fine_days: float = Field(3.0, gt=0, description="GPU samples are kept at poll resolution for N days, "
                                                    "then as hourly averages")
    gpu_sample_seconds: float = Field(60.0, ge=10, description="at most one GPU sample per cluster this often")
    backup_hours: float = Field(24.0, ge=0, description="SQLite online backup every N hours (0: never)")
    backup_keep: int = Field(7, ge=1, le=1000, description="backups kept")


class ConfigSection(BaseModel):
    """`[config]` in the TOML file: who may change the configuration through the config tools and the
    dashboard's Settings page (the CLI is the file's owner and always may)."""

    model_config = ConfigDict(extra="forbid")
    editors: list[str] = Field(default_factory=lambda: ["local"],
                               description="principals that may change the configuration: 'local' is stdio "
                                           "(the machine's owner); an HTTP token's name lets that client")


TOOLSETS = (
    "cluster", "jobs", "agent", "watch", "account", "files", "containers", "interactive", "history", "jupyter",
    "tensorpool", "config",
)
DEFAULT_TOOLSETS = ("cluster", "jobs", "agent")


def toolset_list(value: object) -> list[str]:
    """'a,b' or ['a', 'b'] -> checked names; 'all' means every toolset."""
    names: list[str] = cast(list[str], split_csv(value)) if isinstance(value, str) else list(cast(list[str], value))
    if "all" in names:
        return list(TOOLSETS)
    unknown = [n for n in names if n not in TOOLSETS]
    if unknown or not names:
        raise ConfigError(f"toolsets: {', '.join(unknown) or 'none given'} unknown; toolsets are "
                          f"{', '.join(TOOLSETS)} or all (default: {', '.join(DEFAULT_TOOLSETS)})")
    return [n for n in TOOLSETS if n in names]


class Settings(BaseModel):
    clusters: dict[str, ClusterConfig]
    default_cluster: str
    providers: dict[str, ClusterConfig] = Field(default_factory=dict)  # provider = "tensorpool" accounts
    http_token: SecretStr | None = None
    http: HttpConfig = Field(default_factory=lambda: HttpConfig.model_validate({}))
    log_level: str = "INFO"
    tool_aliases: list[Literal["pbs"]] = Field(default_factory=list)
    toolsets: list[str] = Field(default_factory=lambda: list(DEFAULT_TOOLSETS))
    mcp_tasks: bool = False  # the long waits may run as MCP tasks (needs the `tasks` extra)
    history: HistoryConfig = Field(default_factory=lambda: HistoryConfig.model_validate({}))
    dashboard: DashboardConfig = Field(default_factory=lambda: DashboardConfig.model_validate({}))
    config: ConfigSection = Field(default_factory=lambda: ConfigSection.model_validate({}))
    source: str = ""

    def cluster(self, name: str | None) -> ClusterConfig:
        key = name or self.default_cluster
        if key not in self.clusters:
            from .errors import NotFound

            raise NotFound(f"cluster '{key}' is not configured; clusters: {', '.join(sorted(self.clusters))}")
        return self.clusters[key]


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("hpcbridge")) / "config.toml"


def config_file_path(environ: dict[str, str] | None = None) -> Path:
    """HPCBRIDGE_CONFIG, else the platform's config directory."""
    configured = (os.environ if environ is None else environ).get("HPCBRIDGE_CONFIG")
    return Path(configured).expanduser() if configured else default_config_path()


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


# Every top-level key and table the file may hold; anything else is a typo or a key of another version and is
# refused by name (a silently ignored `default_cluster = "x"` left the first cluster the default).
TOP_LEVEL_KEYS = ("clusters", "toolsets", "tool_aliases", "log_level", "mcp_tasks", "http_token", "http", "history",
                  "dashboard", "config")


def _refuse_unknown_top_level(data: dict[str, object], path: Path) -> None:
    unknown = sorted(k for k in data if k not in TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key {', '.join(map(repr, unknown))}; the file may hold "
                          f"{', '.join(TOP_LEVEL_KEYS)} (a cluster is the default with `default = true` in its "
                          "[clusters.NAME] table)")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read env + TOML into validated Settings; raises ConfigError with what is wrong and where."""
    env = dict(os.environ if environ is None else environ)
    prefix = "HPCBRIDGE_"
    try:
        server = _server_from(env)
        prefix = "SLURM_"
        slurm = _slurm_from(env)
        prefix = "PBS_"
        pbs = PbsEnv.model_validate({k[len("PBS_"):].lower(): v for k, v in env.items()
                                     if k in ("PBS_SERVER", "PBS_ACCOUNT")})
    except ValidationError as exc:  # named as the user wrote it: SLURM_SSH_PORT, not ssh_port
        err = exc.errors()[0]
        variable = prefix + "_".join(str(p) for p in err.get("loc", ())).upper()
        message = str(err.get("msg"))
        raise ConfigError(f"environment: {message if message.startswith(variable) else variable + ': ' + message}"
                          ) from exc
    path = Path(server.config).expanduser() if server.config else default_config_path()
    data: dict[str, object] = {}
    if server.config and not path.exists():
        raise ConfigError(f"HPCBRIDGE_CONFIG points to {path}, which does not exist")
    if path.exists():
        data = _read_toml(path)
        _refuse_unknown_top_level(data, path)
    raw_clusters: dict[str, Any] = dict(cast(dict[str, Any], data.get("clusters") or {}))
    if slurm.defines_cluster or pbs.server:
        merged = dict(raw_clusters.get(slurm.cluster_name) or {})
        merged.update(slurm.cluster_fields())
        merged.update(pbs.cluster_fields(slurm))
        raw_clusters[slurm.cluster_name] = merged
    every = validate_clusters(raw_clusters, lambda name: "env" if name == slurm.cluster_name else str(path))
    clusters = {n: c for n, c in every.items() if not c.provider}
    providers = {n: c for n, c in every.items() if c.provider}
    if not clusters:
        raise NoClusterConfigured(
            f"no cluster configured: set SLURM_SSH_HOST (and SLURM_SSH_USER, SLURM_SSH_KEY_PATH), "
            f"or write {path} with a [clusters.NAME] table, or run `hpcbridge cluster add`"
        )
    defaults = [n for n, c in clusters.items() if c.default]
    from_env = slurm.defines_cluster or bool(pbs.server)
    default = defaults[0] if defaults else (slurm.cluster_name if from_env else next(iter(clusters)))
    token = server.http_token or (SecretStr(str(data["http_token"])) if data.get("http_token") else None)
    aliases = cast(list[Any], server.tool_aliases if server.tool_aliases is not None
                   else split_csv(data.get("tool_aliases") or []))
    try:
        http = HttpConfig.model_validate(_http_table(data, server))
    except ValidationError as exc:
        raise ConfigError(f"[http]: {_first_error(exc, HttpConfig)}") from exc
    history_table: dict[str, Any] = dict(cast(dict[str, Any], data.get("history") or {}))
    if server.database_url:
        history_table["database_url"] = server.database_url
    try:
        history = HistoryConfig.model_validate(history_table)
    except ValidationError as exc:
        raise ConfigError(f"[history]: {_first_error(exc, HistoryConfig)}") from exc
    try:
        settings = Settings(clusters=clusters, default_cluster=default, providers=providers, http_token=token, http=http, history=history,
                            log_level=_log_level(server.log_level or data.get("log_level", "INFO")), tool_aliases=aliases,
                            toolsets=toolset_list(server.toolsets or data.get("toolsets") or list(DEFAULT_TOOLSETS)),
                            mcp_tasks=_flag("mcp_tasks", server.mcp_tasks, data.get("mcp_tasks", False)),
                            source=str(path) if path.exists() else "environment",
                            dashboard=_dashboard_config(data, server), config=_config_section(data))
    except ValidationError as exc:
        raise ConfigError(f"tool_aliases: {_first_error(exc)} (the only alias set is 'pbs')") from exc
    return settings


def _log_level(value: object) -> str:
    """A level logging knows (any case); 'LOUD' or 'verbose' were taken as INFO without a word."""
    level = str(value).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"log_level: {value!r} is not a log level; expected DEBUG, INFO, WARNING or ERROR "
                          "(HPCBRIDGE_LOG_LEVEL, or log_level in the file)")
    return level


def _flag(key: str, from_env: bool | None, from_file: object) -> bool:
    value = from_file if from_env is None else from_env
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: {value!r} is not true or false")
    return value


def validate_clusters(raw: dict[str, Any], where: Callable[[str], str]) -> dict[str, ClusterConfig]:
    """The `[clusters.NAME]` tables as the server reads them; `where(name)` says where a bad one came from."""
    clusters: dict[str, ClusterConfig] = {}
    for name, values in raw.items():
        try:
            clusters[name] = ClusterConfig.model_validate({**dict(values), "name": name})
        except ValidationError as exc:
            raise ConfigError(f"cluster '{name}' ({where(name)}): {_first_error(exc, ClusterConfig)}") from exc
        if clusters[name].provider:
            if clusters[name].default:
                raise ConfigError(f"cluster '{name}': a {clusters[name].provider} account cannot be the default "
                                  "cluster (tools without a cluster run on a scheduler)")
            continue
        if clusters[name].transport in ("ssh", "openssh") and not clusters[name].host:
            raise ConfigError(f"cluster '{name}': transport '{clusters[name].transport}' needs host "
                              "(or SLURM_SSH_HOST)")
    defaults = [n for n, c in clusters.items() if c.default]
    if len(defaults) > 1:
        raise ConfigError(f"more than one cluster has default = true: {', '.join(defaults)}")
    return clusters


def _http_table(data: dict[str, object], server: ServerEnv) -> dict[str, Any]:
    """[http] from the file, with HPCBRIDGE_HTTP_* from the environment taking precedence."""
    table: dict[str, Any] = dict(cast(dict[str, Any], data.get("http") or {}))
    if server.http_token_file:
        table["token_file"] = server.http_token_file
    if server.http_allowed_hosts is not None:
        table["allowed_hosts"] = server.http_allowed_hosts
    if server.http_allowed_origins is not None:
        table["allowed_origins"] = server.http_allowed_origins
    return table


def _server_from(env: dict[str, str]) -> ServerEnv:
    return ServerEnv.model_validate({k[len("HPCBRIDGE_"):].lower(): v for k, v in env.items()
                                     if k.startswith("HPCBRIDGE_")
                                     and k[len("HPCBRIDGE_"):].lower() in ServerEnv.model_fields})


def _slurm_from(env: dict[str, str]) -> SlurmEnv:
    return SlurmEnv.model_validate({k[len("SLURM_"):].lower(): v for k, v in env.items()
                                    if k.startswith("SLURM_") and k[len("SLURM_"):].lower() in SlurmEnv.model_fields})


def _first_error(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """The first fault in the file's words; a key the table does not have (pydantic: 'Extra inputs are not
    permitted') is called unknown, with the closest key of `model` (the table's model) when one is close."""
    err = exc.errors()[0]
    loc = err.get("loc", ())
    where = ".".join(str(p) for p in loc)
    if err.get("type") == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _keys_at(model, loc[:-1]), n=1) if loc else []
        closest = ".".join([*(str(p) for p in loc[:-1]), close[0]]) if close else ""
        return f"unknown key {where!r}" + (f" (did you mean {closest!r}?)" if close else "")
    return f"{where}: {err.get('msg')}"


def _keys_at(model: type[BaseModel] | None, path: tuple[int | str, ...]) -> list[str]:
    """The keys of the table at `path` below `model` (policy -> Policy's keys); [] when it is not a table."""
    for part in path:
        field = model.model_fields.get(str(part)) if model is not None else None
        kind = field.annotation if field is not None else None
        model = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
    return [] if model is None else list(model.model_fields)
