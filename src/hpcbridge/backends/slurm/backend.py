"""Slurm backend: runs the pure builders of build.py and parses with text.py."""

from __future__ import annotations

from dataclasses import replace

from ... import validate
from ...errors import HpcBridgeError, InvalidParameter, NotFound, PrivilegeError, SchedulerError, Unsupported
from ...models import CommandResult, Job, JobDetails, JobRecord, JobRequest, Node, Partition
from ...standing import PriorityRow, ShareRow, StartEstimate
from ...watch.gpustats import ResourceUse
from ..base import Capabilities, ContainerUse, InteractiveBackend, JobChanges, Runner, command_failure
from ..directives import ScriptDirectives
from ..limits import AccountLimits
from ..merge import FromScript
from . import build, ids, limits, messages, outputs, standing, states, usage
from . import directives as sbatch_directives
from . import text as parse
from .interactive import SlurmInteractive


def command_error(what: str, result: CommandResult) -> SchedulerError:
    down = messages.controller_down(result.stderr + result.stdout)
    return command_failure(what, result, "the Slurm controller (slurmctld)" if down else None)


class SlurmBackend:
    name = "slurm"
    capabilities = Capabilities(interactive=True, containers=True, gpu_types=True, start_estimate=True,
                                arrays=True, forced_delete=False, history="sacct", fairshare=True,
                                priority_factors=True)
    state_words = states.STATE_WORDS
    node_words = states.NODE_WORDS

    @staticmethod
    def job_id(value: str | int, parameter: str = "job_id") -> str:
        return validate.job_id(value, parameter)

    @staticmethod
    def history_time(parameter: str, value: str) -> str:
        return build.sacct_time(parameter, value)

    @staticmethod
    def history_note(available: bool) -> str:
        return ("sacct works (job history available)" if available else
                "sacct failed: get_job_history and finished-job details will not work")

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._squeue = parse.squeue_reader()  # a 10,000-task array's unchanged rows are parsed once
        self.interactive: InteractiveBackend | None = SlurmInteractive(run)

    async def _ok(self, what: str, argv: list[str], **kwargs: object) -> CommandResult:
        result = await self._run(argv, **kwargs)
        if not result.ok:
            raise command_error(what, result)
        return result

    async def version(self) -> str:
        return parse.parse_version((await self._ok("sinfo --version", build.version_argv())).stdout)

    async def whoami(self) -> str:
        return (await self._ok("id", ["id", "-un"])).stdout.strip()

    async def partitions(self) -> list[Partition]:
        parts = parse.parse_partitions((await self._ok("scontrol show partition", build.partitions_argv())).stdout)
        return parse.with_node_gpus(parts, await self.nodes()) if parse.needs_node_gpus(parts) else parts

    async def nodes(self) -> list[Node]:
        return parse.parse_nodes((await self._ok("scontrol show node", build.nodes_argv())).stdout)

    async def jobs(self, user: str | None = None, partition: str | None = None,
                   states: list[str] | None = None) -> list[Job]:
        argv = build.squeue_argv(user=user, partition=partition, states=states)
        text = (await self._ok("squeue", argv)).stdout
        return self._squeue.read(text) if parse.is_pinned(text) else parse.parse_squeue(text)

    async def output_paths(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        if not job_ids:
            return {}
        result = await self._ok("squeue", outputs.output_paths_argv(job_ids))
        return outputs.parse_output_paths(result.stdout)

    async def batch_script(self, job_id: str) -> str:
        result = await self._run(build.batch_script_argv(job_id))
        return result.stdout if result.ok else ""

    async def estimated_start(self, job_id: str) -> str:
        result = await self._run(build.start_argv(job_id))
        text = messages.estimated_start(result.stdout) if result.ok else ""
        return parse.epoch_to_iso(text) if text else ""

    async def start_estimate(self, job_id: str) -> StartEstimate:
        result = await self._run(standing.start_argv(job_id))
        found = standing.parse_start(result.stdout) if result.ok else StartEstimate("")
        return replace(found, start=parse.epoch_to_iso(found.start)) if found.start else found

    async def fairshare(self, user: str) -> tuple[list[ShareRow], str]:
        rows = standing.parse_sshare((await self._ok("sshare", standing.sshare_argv(user))).stdout)
        default = await self._run(standing.default_account_argv(user))
        return rows, (default.stdout.strip().splitlines() or [""])[0] if default.ok else ""

    async def priority(self, job_ids: list[str] | None = None, partition: str | None = None) -> list[PriorityRow]:
        argv = standing.sprio_jobs_argv(job_ids) if job_ids else standing.sprio_partition_argv(partition or "")
        result = await self._run(argv)
        said = result.stdout + result.stderr
        if standing.no_priority_plugin(said):
            raise Unsupported("priority factors are not available: this Slurm runs priority/basic (jobs start in "
                              "submission order; sprio needs priority/multifactor)")
        if not result.ok and "Unable to find jobs" not in said and "Invalid job id" not in said:
            raise command_error("sprio", result)
        return standing.parse_sprio(result.stdout)

    async def job(self, job_id: str) -> JobDetails | None:
        result = await self._run(build.job_argv(ids.for_show(job_id)))
        if not result.ok:
            if "Invalid job id" in result.stderr:
                return None
            raise command_error("scontrol show job", result)
        details = parse.parse_jobs_detail(result.stdout)
        # an array's parent id expands to every task; pick the exact match when there is one
        found = next((d for d in details if job_id in (d.job.job_id, d.raw.get("JobId"),
                                                        ids.for_signal(d.job.job_id))), None)
        found = found or (details[0] if details else None)
        if found is None:
            return None
        text = await self._run(build.job_text_argv(ids.for_signal(found.job.job_id)))
        return parse.with_job_text(found, parse.parse_job_text(text.stdout).get(found.job.job_id)) if text.ok else found

    async def history(self, job_ids: list[str] | None = None, user: str | None = None, all_users: bool = False,
                      start_time: str | None = None, end_time: str | None = None) -> list[JobRecord]:
        result = await self._run(build.sacct_argv(job_ids=job_ids, user=user, all_users=all_users,
                                                  start_time=start_time, end_time=end_time))
        if not result.ok:
            text = (result.stderr or result.stdout).strip()
            if messages.accounting_disabled(text):
                raise SchedulerError("job accounting (sacct) is not enabled on this cluster; "
                                     "only jobs still in the queue can be shown")
            raise command_error("sacct", result)
        return await self._named(parse.parse_sacct(result.stdout))

    async def _named(self, records: list[JobRecord]) -> list[JobRecord]:
        """Records that accounting still calls by its stand-in name get the name slurmctld holds."""
        unnamed = [r.job_id for r in records if r.name == parse.DBD_UNNAMED]
        if not unnamed:
            return records
        try:
            result = await self._run(build.names_argv(unnamed))
        except HpcBridgeError:  # accounting answered; a name it will soon have is not worth failing the call
            return records
        names = build.job_names(result.stdout) if result.ok else {}
        return [replace(r, name=names[r.job_id]) if r.job_id in names else r for r in records]

    async def check_request(self, req: JobRequest) -> None:
        """Every JobRequest field has a Slurm spelling."""

    @staticmethod
    def render_script(req: JobRequest) -> str:
        return build.render_script(req)

    @staticmethod
    def read_directives(script: str, foreign: tuple[str, ...]) -> tuple[ScriptDirectives, FromScript]:
        """The script's own #SBATCH block: what it sets, and the script without those lines."""
        found = sbatch_directives.read_sbatch(script, foreign)
        return found, sbatch_directives.slurm_values(found)

    async def submit(self, script: str, req: JobRequest | None = None, *, test_only: bool = False) -> str:
        result = await self._run(build.sbatch_argv(test_only), stdin=script.encode(), idempotent=False)
        if not result.ok:
            raise command_error("sbatch", result)
        if test_only:
            return (result.stderr or result.stdout).strip()
        job_id = parse.parse_submit(result.stdout)
        if not job_id:
            raise SchedulerError(f"sbatch printed no job id: {result.stdout.strip()[:200]}")
        return job_id

    async def cancel(self, job_id: str, signal: str | None = None, force: bool = False) -> None:
        if force:
            raise InvalidParameter("force", "Slurm has no forced deletion (it is PBS's qdel -W force); scancel "
                                   "already ends the job", "force=false, or signal='KILL' to kill it at once")
        leader = ids.het_leader(job_id)
        if leader:
            raise InvalidParameter("job_id", f"{job_id!r} is one component of heterogeneous job {leader}, and "
                                   "Slurm cancels a heterogeneous job only as a whole", f"job_id={leader!r}")
        job_id = ids.for_signal(job_id)
        result = await self._run(build.scancel_argv(job_id, signal), idempotent=False)
        self._check_job_command("scancel", job_id, result)

    async def hold(self, job_id: str) -> None:
        job_id = ids.for_signal(job_id)
        self._check_job_command("scontrol hold", job_id, await self._run(build.hold_argv(job_id)))

    async def release(self, job_id: str) -> None:
        job_id = ids.for_signal(job_id)
        self._check_job_command("scontrol release", job_id, await self._run(build.release_argv(job_id)))

    async def modify(self, job_id: str, changes: JobChanges) -> None:
        """scontrol update; GPUs keep the job's GPU type (Gres=gpu:TYPE:N replaces the whole request)."""
        job_id = ids.for_signal(job_id)
        gres = None
        if changes.gpus is not None:
            details = await self.job(job_id)
            if details is None:
                raise NotFound(f"job {job_id} is not in the queue (finished jobs are in get_job_history)")
            kind = next((g.type for g in details.job.gpus if g.type), None)
            gres = f"gpu:{kind}:{changes.gpus}" if kind else f"gpu:{changes.gpus}"
        argv = build.update_argv(job_id, changes.time_limit, changes.partition, changes.job_name, changes.nodes, gres,
                                 qos=changes.qos, account=changes.account, dependency=changes.dependency,
                                 comment=changes.comment, array_throttle=changes.array_throttle)
        result = await self._run(argv, idempotent=False)
        said = (result.stderr + result.stdout).strip()
        if not result.ok and messages.problem(said) is messages.Problem.DENIED:
            # slurmctld's own reason, e.g. a user raising a time limit past what the site lets users set
            raise PrivilegeError(f"scontrol update {job_id} refused by Slurm: {said.splitlines()[-1]}")
        self._check_job_command("scontrol update", job_id, result)

    @staticmethod
    def _check_job_command(what: str, job_id: str, result: CommandResult) -> None:
        text = (result.stderr + result.stdout).strip()
        problem = messages.problem(text)
        if problem is messages.Problem.UNKNOWN_JOB:
            raise NotFound(f"job {job_id} is not in the queue (finished jobs are in get_job_history)")
        if problem is messages.Problem.FINISHED:
            raise SchedulerError(f"{what} {job_id}: the job has already finished")
        if problem is messages.Problem.DENIED:
            raise PrivilegeError(f"{what} {job_id}: permission denied: only the job's owner, a Slurm operator or "
                                 "an administrator may do this")
        if not result.ok or (what == "scancel" and "error" in text.lower()):
            raise command_error(f"{what} {job_id}", result)

    @staticmethod
    def explain(reason: str) -> str:
        return states.explain_reason(reason)

    @staticmethod
    def test_start(message: str) -> str:
        return messages.test_only_start(message)

    @staticmethod
    def cancelled_by_uid(native_state: str) -> str:
        return messages.cancelled_by_uid(native_state)

    async def privileges(self, user: str) -> str:
        """The user's Slurm admin level (sacctmgr AdminLevel): None, Operator or Administrator."""
        result = await self._run(build.admin_level_argv(user))
        level = messages.admin_level(result.stdout) if result.ok else ""
        if not level:
            return "unknown (sacctmgr shows no user record)"
        if level == "None":
            return "ordinary user: may cancel, hold and release only its own jobs"
        return f"{level}: may act on other users' jobs"

    async def limits(self, user: str) -> AccountLimits:
        """The user's association limits (up the account tree) and every QOS's, read with sacctmgr."""
        assocs = limits.rows((await self._ok("sacctmgr show assoc", limits.assoc_argv(user=user))).stdout,
                             limits.ASSOC_FIELDS)
        here = ""
        if len({r["Cluster"] for r in assocs}) > 1:  # a slurmdbd shared by several clusters: keep this one's rows
            config = await self._run(limits.config_argv())
            here = limits.cluster_name(config.stdout) if config.ok else ""
            assocs = [r for r in assocs if r["Cluster"] == here] if here else assocs
        accounts = sorted({r["Account"] for r in assocs})
        wanted = accounts
        for _ in range(8):  # the account rows, then their parents, up to the root
            if not wanted:
                break
            more = limits.rows((await self._ok("sacctmgr show assoc", limits.assoc_argv(accounts=wanted))).stdout,
                               limits.ASSOC_FIELDS)
            assocs += [r for r in more if not r["User"] and (not here or r["Cluster"] == here)]
            wanted = limits.parents_missing(assocs)
        qos = limits.rows((await self._ok("sacctmgr show qos", limits.qos_argv())).stdout, limits.QOS_FIELDS)
        default = await self._run(limits.default_account_argv(user))
        mine = [r for r in assocs if r["User"] == user]
        return AccountLimits(
            user=user, limits=tuple(limits.assoc_limits(assocs, user) + limits.qos_limits(qos)),
            default_account=default.stdout.strip().splitlines()[0] if default.ok and default.stdout.strip() else "",
            default_qos={r["Account"]: r["DefaultQOS"] or limits.only_qos(r["QOS"]) for r in mine},
            accounts=tuple(accounts), source="sacctmgr show assoc, sacctmgr show qos")

    async def accounting_available(self) -> bool:
        result = await self._run(build.accounting_probe_argv())
        return result.ok

    async def container_problem(self, used_by: ContainerUse) -> str:
        """Why Pyxis containers cannot run here for this use, or ''. Each command is asked on its own: Pyxis
        built or configured with `sbatch_support=0` (plugstack.conf) registers its options in srun and the steps
        only, so `srun --help` lists --container-image and `sbatch --help` does not. Containerized steps then
        work while containerized batch scripts cannot."""
        if used_by == "step":
            if await self._knows_container_image("srun"):
                return ""
            return ("srun does not know --container-image: the Pyxis plugin is not installed there, so containers "
                    "cannot be started; run without container_image, or use a cluster with Pyxis")
        if await self._knows_container_image("sbatch"):
            return ""
        if await self._knows_container_image("srun"):
            return ("Pyxis has no sbatch support (sbatch_support=0: srun knows --container-image, sbatch does "
                    "not), so a batch job cannot run in a container; submit without container_image and start the "
                    "container in a step inside the script (srun --container-image=IMAGE ...), or use "
                    "run_interactive_command or an interactive session with container_image")
        return ("sbatch does not know --container-image: the Pyxis plugin is not installed there, so container "
                "jobs cannot be submitted; submit without container_image, or use a cluster with Pyxis")

    async def _knows_container_image(self, command: str) -> bool:
        result = await self._run(build.help_argv(command))
        return "--container-image" in result.stdout

    @staticmethod
    def container_step(options: list[str], gpus: int | None) -> list[str]:
        return build.container_step_argv(options, gpus)

    async def resource_use(self, details: JobDetails, timeout: float, probe: bool) -> ResourceUse:
        return await usage.read(self._run, details, timeout, probe)
