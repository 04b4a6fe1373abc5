"""The environment half of the configuration: the Slurm plan's SLURM_* variables (one cluster), the PBS plan's
PBS_SERVER/PBS_ACCOUNT and hpcbridge's own HPCBRIDGE_* variables, read by pydantic-settings (config.py merges
them with the TOML file)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from . import validate


def split_csv(value: object) -> object:
    """'a,b' -> ['a', 'b']; paths may also be separated by ':' like PATH (SLURM_IMAGE_DIR=/a:/b)."""
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,:]", value) if v.strip()]
    return value


def ssh_identity(field: str, value: object, shown_as: str = "") -> object:
    """host / user as every door hands them in (file, SLURM_* variables, `cluster add`, an engine's answer):
    a plain name or address, else refused here so that no door can skip the check."""
    if value is None:
        return value
    host = field.endswith("host")
    problem = validate.host_problem(value) if host else validate.user_problem(value)
    if problem:
        form = validate.HOST_FORM if host else validate.USER_FORM
        # one placeholder: pydantic substitutes context values, and the value itself may hold braces
        raise PydanticCustomError("ssh_identity", "{detail}", {"detail": f"{shown_as}{problem}; expected {form}"})
    return value


class SlurmEnv(BaseSettings):
    """The Slurm plan's variables, plus a few hpcbridge additions, all optional."""

    model_config = SettingsConfigDict(env_prefix="SLURM_", extra="ignore")
    cluster_name: str = "default"
    transport: Literal["ssh", "local", "openssh"] | None = None
    ssh_host: str | None = None
    ssh_port: int | None = Field(None, ge=1, le=65535)
    ssh_user: str | None = None
    ssh_key_path: str | None = None
    ssh_password: SecretStr | None = None
    ssh_known_hosts: str | None = None
    default_partition: str | None = None
    interactive_partition: str | None = None
    interactive_account: str | None = None
    interactive_default_time: str | None = None
    interactive_default_gpus: int | None = None
    interactive_session_timeout: int | None = None
    command_timeout: float | None = None
    work_dir: str | None = None
    gpu_partitions: Annotated[list[str] | None, NoDecode] = None
    cpu_partitions: Annotated[list[str] | None, NoDecode] = None
    account: str | None = None
    allow_shell: bool | None = None
    read_only: bool | None = None
    shell_allowlist: Annotated[list[str] | None, NoDecode] = None
    user_root: str | None = None
    dir_datasets: str | None = None
    dir_results: str | None = None
    dir_models: str | None = None
    dir_logs: str | None = None
    dir_projects: str | None = None
    dir_scratch: str | None = None
    dir_home: str | None = None
    dir_container_root: str | None = None
    gpfs_root: str | None = None
    image_dir: Annotated[list[str] | None, NoDecode] = None
    default_image: str | None = None
    jupyter_venv: str | None = None
    notebook_dir: str | None = None
    persist_kernels: bool | None = None
    jupyter_warm_start: bool | None = None

    @field_validator("gpu_partitions", "cpu_partitions", "shell_allowlist", "image_dir", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("ssh_host", "ssh_user")
    @classmethod
    def _identity(cls, value: object, info: ValidationInfo) -> object:
        return ssh_identity(str(info.field_name), value, f"SLURM_{str(info.field_name).upper()}=")

    def cluster_fields(self) -> dict[str, object]:
        mapping = {
            "transport": self.transport, "host": self.ssh_host, "port": self.ssh_port,
            "user": self.ssh_user, "key_path": self.ssh_key_path, "password": self.ssh_password,
            "known_hosts": self.ssh_known_hosts, "default_partition": self.default_partition,
            "interactive_partition": self.interactive_partition,
            "interactive_account": self.interactive_account,
            "interactive_default_time": self.interactive_default_time,
            "interactive_default_gpus": self.interactive_default_gpus,
            "interactive_session_timeout": self.interactive_session_timeout,
            "command_timeout": self.command_timeout, "work_dir": self.work_dir,
            "gpu_partitions": self.gpu_partitions, "cpu_partitions": self.cpu_partitions,
            "account": self.account, "allow_shell": self.allow_shell, "read_only": self.read_only,
            "shell_allowlist": self.shell_allowlist,
            "user_root": self.user_root, "dir_datasets": self.dir_datasets, "dir_results": self.dir_results,
            "dir_models": self.dir_models, "dir_logs": self.dir_logs, "dir_projects": self.dir_projects,
            "dir_scratch": self.dir_scratch, "dir_home": self.dir_home,
            "dir_container_root": self.dir_container_root, "gpfs_root": self.gpfs_root,
            "image_dirs": self.image_dir, "default_image": self.default_image,
            "jupyter_venv": self.jupyter_venv, "notebook_dir": self.notebook_dir,
            "persist_kernels": self.persist_kernels, "jupyter_warm_start": self.jupyter_warm_start,
        }
        return {k: v for k, v in mapping.items() if v is not None}

    @property
    def defines_cluster(self) -> bool:
        return bool(self.ssh_host) or self.transport == "local"


class PbsEnv(BaseSettings):
    """The PBS plan's variables: PBS_SERVER makes the environment's cluster a PBS cluster."""

    model_config = SettingsConfigDict(env_prefix="PBS_", extra="ignore")
    server: str | None = None
    account: str | None = None

    def cluster_fields(self, slurm: SlurmEnv) -> dict[str, object]:
        if not self.server:
            return {}
        fields: dict[str, object] = {"scheduler": "pbs", "pbs_server": self.server}
        if self.account and not slurm.account:
            fields["account"] = self.account
        if not slurm.defines_cluster:
            fields["transport"] = "local"  # the PBS plan's server runs beside the PBS client commands
        return fields


# hpcbridge's own secrets among its environment variables (fnmatch patterns), kept from every child process it
# starts: on a login node its sbatch/srun/salloc/qsub environment becomes the job's (Slurm's default
# --export=ALL), and a job runs code hpcbridge did not write. First every variable a secret is read from
# (ServerEnv, SlurmEnv, tensorpool/checks.py); then the rule for ones added later: a token, password, secret,
# key or database URL under a prefix hpcbridge owns. tests/unit/test_secret_env.py holds the two together.
SECRET_ENV: tuple[str, ...] = (
    "HPCBRIDGE_HTTP_TOKEN", "HPCBRIDGE_DATABASE_URL", "SLURM_SSH_PASSWORD", "TENSORPOOL_KEY", "TENSORPOOL_API_KEY",
    *(f"{owner}*{word}*" for owner in ("HPCBRIDGE_", "SLURM_SSH_", "TENSORPOOL_")
      for word in ("TOKEN", "PASSWORD", "SECRET", "KEY", "DATABASE_URL")),
)


class ServerEnv(BaseSettings):
    """hpcbridge's own variables."""

    model_config = SettingsConfigDict(env_prefix="HPCBRIDGE_", extra="ignore")
    config: str | None = None
    http_token: SecretStr | None = None
    http_token_file: str | None = None
    http_allowed_hosts: Annotated[list[str] | None, NoDecode] = None
    http_allowed_origins: Annotated[list[str] | None, NoDecode] = None
    log_level: str | None = None  # set, it wins over the file's log_level (HPCBRIDGE_LOG_LEVEL=DEBUG to look)
    state_dir: str | None = None  # read by store.default_path(); declared here so it is documented and checked
    database_url: SecretStr | None = None  # [history] database_url
    dashboard_cookie_secure: bool | None = None  # [dashboard] cookie_secure
    tool_aliases: Annotated[list[str] | None, NoDecode] = None
    toolsets: str | None = None
    mcp_tasks: bool | None = None  # mcp_tasks

    @field_validator("tool_aliases", mode="before")
    @classmethod
    def _aliases(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("http_allowed_hosts", "http_allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
