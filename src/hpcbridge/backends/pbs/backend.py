"""PBS backend: PBS Pro / OpenPBS and Torque behind the same interface as SlurmBackend.

The flavour decides the forms: PBS Pro answers `-F json` and reads qsub scripts on stdin; Torque (and
Torque-style wrappers) prints text only and needs the script as a file, with the options on qsub's
command line. `pbs_flavor = "auto"` asks `qstat --version` once: PBS Pro prints `pbs_version = ...`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from ... import validate
from ...errors import InvalidParameter, NotFound, PrivilegeError, SchedulerError, Unsupported
from ...models import CommandResult, Job, JobDetails, JobRecord, JobRequest, Node, Partition
from ...standing import PriorityRow, ShareRow, StartEstimate
from ...watch.gpustats import ResourceUse
from ..base import Capabilities, ContainerUse, InteractiveBackend, JobChanges, Runner, Writer, command_failure
from ..directives import ScriptDirectives
from ..limits import AccountLimits
from ..merge import FromScript
from . import build, ids, limits, messages, nonprint, outputs, parse, usage
from . import directives as pbs_directives
from .jsonfix import BadJson

_T = TypeVar("_T")


def command_error(what: str, result: CommandResult) -> SchedulerError:
    down = messages.server_down(result.stderr + result.stdout)
    return command_failure(what, result, "the PBS server (pbs_server)" if down else None)


def _text(result: CommandResult) -> str:
    return (result.stderr + "\n" + result.stdout).strip()


class PbsBackend:
    name = "pbs"
    capabilities = Capabilities(interactive=False, containers=False, gpu_types=False, start_estimate=False,
                                arrays=True, forced_delete=True, history="qstat -x (PBS Pro); what qstat -f keeps (Torque)",
                                server_chooses_queue=True)
    state_words = parse.STATE_WORDS
    node_words = parse.NODE_WORDS

    @staticmethod
    def job_id(value: str | int, parameter: str = "job_id") -> str:
        return validate.job_id(ids.pasted(str(value)), parameter, pbs=True)

    @staticmethod
    def history_time(parameter: str, value: str) -> str:
        """A history bound in this backend's grammar (sacct's words, made absolute for qstat's times)."""
        messages.since(parameter, value)
        return value

    @staticmethod
    def history_note(available: bool) -> str:
        return ("qstat -x works (job history available)" if available else
                "Torque keeps finished jobs only briefly (keep_completed): history shows what qstat -f still has")

    def __init__(self, run: Runner, write: Writer, flavor: str = "auto") -> None:
        self._run = run
        self._write = write
        self._configured = flavor
        self._flavor: build.Flavor | None = None if flavor == "auto" else flavor  # type: ignore[assignment]
        self._version = ""
        self._lock = asyncio.Lock()
        self.interactive: InteractiveBackend | None = None  # qsub -I needs a terminal; sessions are refused (capabilities.interactive)

    async def _ok(self, what: str, argv: list[str], **kwargs: object) -> CommandResult:
        result = await self._run(argv, **kwargs)
        if not result.ok:
            raise command_error(what, result)
        return result

    async def flavor(self) -> build.Flavor:
        async with self._lock:
            if self._flavor is None or not self._version:
                flavor, self._version = messages.parse_version(_text(await self._run(build.version_argv())))
                self._flavor = self._flavor or flavor  # type: ignore[assignment]
            return self._flavor or "torque"  # set above; mypy cannot see it through the lock

    @property
    def json(self) -> bool:
        return self._flavor == "pbspro"

    async def version(self) -> str:
        await self.flavor()
        return self._version

    async def whoami(self) -> str:
        return (await self._ok("id", ["id", "-un"])).stdout.strip()

    # --- reads --------------------------------------------------------------------------------------
    async def partitions(self) -> list[Partition]:
        await self.flavor()
        queues = await self._read("qstat -Q -f", build.queues_argv, parse.parse_queues)
        nodes = await self.nodes()
        default = await self._default_queue()
        result = []
        for q in queues:
            # a queue that owns vnodes (their `queue` attribute) runs there; one that owns none runs on the
            # vnodes no queue owns (all of them in PBS's usual set-up)
            owned = [n.name for n in nodes if q.name in n.partitions]
            members = tuple(owned or (n.name for n in nodes if not n.partitions))
            result.append(replace(q, nodes=members, total_nodes=q.total_nodes or len(members),
                                  is_default=q.name == default,
                                  total_cpus=sum(n.cpus_total for n in nodes if n.name in members),
                                  total_gpus=sum(g.count for n in nodes if n.name in members for g in n.gpus)))
        return result

    async def _default_queue(self) -> str:
        result = await self._run(build.server_argv(self.json))
        return messages.default_queue(result.stdout) if result.ok else ""

    async def nodes(self) -> list[Node]:
        await self.flavor()
        nodes = await self._read("pbsnodes -a", build.nodes_argv, parse.parse_nodes)
        # A host that presents its resources as vnodes (pbs_mom -s insert) keeps its natural vnode, idle and
        # offering nothing (ncpus = 0): no job lands there, so it is not a node to show
        return [n for n in nodes if n.cpus_total or n.gpus or n.state != "IDLE"]

    def _out(self, result: CommandResult) -> str:
        """stdout as text; OpenPBS / PBS Pro print non-ASCII bytes in their own '^' notation (nonprint.py)."""
        return nonprint.unprinted(result.stdout_bytes) if self.json and result.stdout_bytes else result.stdout

    async def _read(self, what: str, argv: Callable[[bool], list[str]], read: Callable[[str], list[_T]]) -> list[_T]:
        """A `-F json` listing, or the text form when this server's JSON is beyond repair (issue 25, kind 6)."""
        try:
            return read(self._out(await self._ok(what, argv(self.json))))
        except BadJson:
            return read(self._out(await self._ok(what, argv(False))))

    async def _details(self, job_id: str | None = None, history: bool = False) -> list[JobDetails]:
        await self.flavor()
        argv = build.qstat_argv(job_id, history=history and self.json, json=self.json,
                                subjobs=self.json and job_id is None)
        result = await self._run(argv)
        if not result.ok:
            # qstat exits 153 (Torque, its wrappers: silently) for an unknown id; PBS Pro says Unknown Job Id
            if job_id and (result.exit_status == 153 or messages.job_is_gone(_text(result))):
                return []
            if not job_id and not _text(result):
                return []  # some qstat versions exit non-zero when there is no job at all
            raise command_error("qstat -f", result)
        if not self.json:
            return parse.parse_jobs_text(result.stdout)
        try:
            return parse.parse_jobs_json(self._out(result))
        except BadJson:  # beyond repair as a whole: the same question in the text form
            text_argv = build.qstat_argv(job_id, history=history, json=False, subjobs=job_id is None)
            return parse.parse_jobs_text(self._out(await self._ok("qstat -f", text_argv)))

    async def jobs(self, user: str | None = None, partition: str | None = None,
                   states: list[str] | None = None) -> list[Job]:
        jobs = [d.job for d in await self._details()]
        parents = {j.array_job_id for j in jobs if j.array_job_id}
        jobs = [j for j in jobs if j.job_id not in parents]  # like squeue: an array's tasks, one per row
        if not states:  # like squeue: the queue, not the jobs a Torque server keeps after they end
            jobs = [j for j in jobs if not j.state.final]
        return [j for j in jobs if (not user or j.user == user) and (not partition or j.partition == partition)]

    async def job(self, job_id: str) -> JobDetails | None:
        details = await self._details(job_id, history=True)
        for d in details:
            if ids.same_job(job_id, d.job.job_id):
                return d
        return details[0] if details else None

    async def output_paths(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        """From one `qstat -f`: the paths a job writes while it runs (direct write only, see outputs.py)."""
        wanted = set(job_ids)
        return {d.job.job_id: outputs.live_output_paths(d) for d in await self._details()
                if d.job.job_id in wanted or parse.short_id(d.job.job_id) in wanted}

    async def estimated_start(self, job_id: str) -> str:
        details = await self.job(job_id)
        return parse.to_iso(details.raw.get("estimated.start_time", "")) if details else ""

    async def start_estimate(self, job_id: str) -> StartEstimate:
        """The scheduler's `estimated.start_time` and `estimated.exec_vnode`: set only where it computes
        them (OpenPBS: strict_ordering or backfill with est_start_time_freq); absent otherwise."""
        details = await self.job(job_id)
        if details is None:
            return StartEstimate("")
        return StartEstimate(parse.to_iso(details.raw.get("estimated.start_time", "")),
                             details.raw.get("estimated.exec_vnode", ""))

    async def fairshare(self, user: str) -> tuple[list[ShareRow], str]:
        raise Unsupported("fairshare is not supported on pbs: PBS keeps its fairshare tree in the scheduler "
                          "(pbsfs, for administrators only); ask the site, or see diagnose_job for a job's wait")

    async def priority(self, job_ids: list[str] | None = None, partition: str | None = None) -> list[PriorityRow]:
        raise Unsupported("priority factors are not supported on pbs: the scheduler's job_sort_formula is not "
                          "shown to users; diagnose_job gives the comment and the start estimate")

    async def history(self, job_ids: list[str] | None = None, user: str | None = None,
                      all_users: bool = False, start_time: str | None = None,
                      end_time: str | None = None) -> list[JobRecord]:
        """PBS Pro: `qstat -x -f` (finished jobs for the server's job_history_duration). Torque keeps
        finished jobs only for keep_completed seconds, so its history is what `qstat -f` still shows."""
        if job_ids:
            found = [await self.job(j) for j in job_ids]
            return [parse.record_from_details(d) for d in found if d is not None]
        await self.flavor()
        begin = messages.since("start_time", start_time or "now-7days")
        until = messages.since("end_time", end_time)
        records = [parse.record_from_details(d) for d in await self._details(history=True)]
        return [r for r in records if (not user or r.user == user)
                and (not begin or not r.submit_time or r.submit_time >= begin)
                and (not until or not r.submit_time or r.submit_time <= until)]

    # --- mutations ----------------------------------------------------------------------------------
    def render_script(self, req: JobRequest) -> str:
        flavor = self._flavor or "pbspro"
        return build.render_script(req, flavor, directives=flavor == "pbspro")

    @staticmethod
    def read_directives(script: str, foreign: tuple[str, ...]) -> tuple[ScriptDirectives, FromScript]:
        """The script's own #PBS block: what it sets, and the script without those lines."""
        found = pbs_directives.read_pbs(script, foreign)
        return found, pbs_directives.pbs_values(found)

    async def check_request(self, req: JobRequest) -> None:
        """Refuse what PBS cannot express rather than drop it silently."""
        flavor = await self.flavor()
        refused = build.unsupported(req, flavor)
        if refused:
            raise InvalidParameter(refused[0], f"PBS ({flavor}) has no equivalent of {', '.join(refused)}",
                                   "leave it unset on this cluster (choose the queue that has what you need)")

    async def submit(self, script: str, req: JobRequest | None = None, *, test_only: bool = False) -> str:
        flavor = await self.flavor()
        if test_only:
            return ("PBS has no test submission: nothing was submitted. The request passed hpcbridge's checks "
                    "(queue, limits, policy); the script above is what would be sent.")
        if flavor == "pbspro":
            result = await self._run(build.qsub_argv(), stdin=script.encode(), idempotent=False)
        else:
            result = await self._submit_file(script, build.qsub_options(req or JobRequest(script), "torque"))
        job_id = messages.parse_submit(result.stdout)
        if not result.ok or not job_id:
            raise SchedulerError(f"qsub failed: {_text(result)[-500:] or f'exit status {result.exit_status}'}")
        return job_id

    async def _submit_file(self, script: str, options: list[build.Option]) -> CommandResult:
        argv = build.qsub_argv(options)  # refuses unsafe values before anything is written
        path = (await self._ok("mktemp", ["mktemp", "-t", "hpcbridge-job.XXXXXXXX"])).stdout.strip()
        try:
            await self._write(path, script.encode())
            return await self._run([*argv, path], idempotent=False)
        finally:
            await self._run(["rm", "-f", path])

    async def cancel(self, job_id: str, signal: str | None = None, force: bool = False) -> None:
        flavor = await self.flavor()
        if signal and force:
            raise InvalidParameter("force", "force and signal exclude each other", "one of them")
        argv = build.qsig_argv(job_id, signal) if signal else build.qdel_argv(job_id, force, flavor)
        what = "qsig" if signal else "qdel -W force" if force and flavor == "pbspro" else \
            "qdel -p" if force else "qdel"
        await self._job_command(what, job_id, argv)

    async def hold(self, job_id: str) -> None:
        await self._job_command("qhold", job_id, build.qhold_argv(job_id))

    async def release(self, job_id: str) -> None:
        await self._job_command("qrls", job_id, build.qrls_argv(job_id))

    async def modify(self, job_id: str, changes: JobChanges) -> None:
        """qalter (-N, -A, -W depend=, -l walltime=, -l select=) then qmove for the queue: qalter has no -q.
        PBS has no QOS, a job's comment is the server's (set by the scheduler or an operator), and an array's
        running-task limit is not a user's qalter option on every PBS: refused before anything runs."""
        for name, what in (("qos", "QOS"), ("comment", "user comment"), ("array_throttle", "array throttle")):
            if getattr(changes, name) is not None:
                raise Unsupported(f"PBS has no {what} for qalter to change ({name}); the other changes can be made "
                                  "without it")
        flavor = await self.flavor()
        select = None
        if changes.nodes is not None or changes.gpus is not None:
            if flavor != "pbspro":
                raise InvalidParameter("nodes" if changes.nodes else "gpus", "Torque's qalter cannot change a "
                                       "job's nodes or GPUs here", "cancel the job and submit it again")
            details = await self.job(job_id)
            if details is None:
                raise NotFound(f"job {job_id} is not in the queue (finished jobs are in get_job_history)")
            select = build.altered_select(details.raw.get("Resource_List.select", ""), changes.nodes, changes.gpus)
        argv = build.qalter_argv(job_id, changes.time_limit, changes.job_name, select, account=changes.account,
                                 dependency=changes.dependency)
        if argv:
            await self._job_command("qalter", job_id, argv)
        if changes.partition:
            await self._job_command("qmove", job_id, build.qmove_argv(changes.partition, job_id))

    async def _job_command(self, what: str, job_id: str, argv: list[str]) -> None:
        result = await self._run(argv, idempotent=False)
        if result.ok:
            return
        kind, said = messages.problem(_text(result))
        if kind is messages.Problem.BAD_OPTION:
            raise Unsupported(f"{what} is not supported by this cluster's {argv[0]} ({said}); "
                              + ("delete without force" if "qdel" in what else "it cannot do this here"))
        if kind is messages.Problem.PRIVILEGE:
            user = await self.whoami()
            raise PrivilegeError(f"{what} {job_id}: not permitted for {user}: only the job's owner, or a PBS "
                                 "operator or manager, may do this" + (" (forced deletion may need operator "
                                 "rights even for your own job)" if "force" in what or "-p" in what else ""))
        if kind is messages.Problem.FINISHED:
            raise SchedulerError(f"{what} {job_id}: the job has already finished")
        if kind is messages.Problem.UNKNOWN_JOB or await self.job(job_id) is None:
            raise NotFound(f"job {job_id} is not in the queue (finished jobs are in get_job_history)")
        raise command_error(f"{what} {job_id}", result)

    # --- facts --------------------------------------------------------------------------------------
    @staticmethod
    def explain(reason: str) -> str:
        return reason  # PBS's comment is already prose ("Not Running: Insufficient amount of resource: ngpus")

    async def batch_script(self, job_id: str) -> str:
        return ""  # no PBS command shows a job's script to its owner (PBS Pro's printjob needs root)

    @staticmethod
    def test_start(message: str) -> str:
        return ""  # qsub has no test submission

    @staticmethod
    def cancelled_by_uid(native_state: str) -> str:
        return ""  # qstat -x keeps no canceller

    async def accounting_available(self) -> bool:
        """PBS Pro with job history keeps finished jobs for `qstat -x`; Torque only briefly."""
        return await self.flavor() == "pbspro"

    async def limits(self, user: str) -> AccountLimits:
        """Server and queue max_run / max_queued limits (qstat -B -f, qstat -Q -f; any user may read them)."""
        await self.flavor()
        queues = self._out(await self._ok("qstat -Q -f", build.queues_argv(self.json)))
        server = await self._run(build.server_argv(self.json))
        found = limits.all_limits(queues, self._out(server) if server.ok else "", user)
        return AccountLimits(user=user, limits=tuple(found), source="qstat -B -f, qstat -Q -f",
                             notes=() if server.ok else ("the server's limits could not be read",))

    async def privileges(self, user: str) -> str:
        """Manager/operator membership from `qmgr -c 'list server'` (the PBS plan's source; a user may list the
        server), else `qstat -B -f` where qmgr is not on the PATH (Debian's Torque-style wrappers)."""
        await self.flavor()
        result = await self._run(build.server_list_argv())
        if not result.ok or not messages.is_server_listing(result.stdout):
            result = await self._run(build.server_argv(self.json))
        if not result.ok or not messages.is_server_listing(result.stdout):
            return "unknown (this cluster shows no server attributes: qmgr -c 'list server', qstat -B -f)"
        roles = messages.server_roles(result.stdout, user)
        if roles:
            return f"PBS {' and '.join(r[:-1] for r in roles)}: may act on other users' jobs"
        return "ordinary user: may delete, hold (user hold) and release only its own jobs"

    async def resource_use(self, details: JobDetails, timeout: float, probe: bool) -> ResourceUse:
        return await usage.read(self._run, details, timeout, probe)

    async def container_problem(self, used_by: ContainerUse) -> str:
        return "PBS has no Pyxis container options"  # capabilities.containers is false: never asked

    @staticmethod
    def container_step(options: list[str], gpus: int | None) -> list[str]:
        return []
