"""toyq's backend: what its scheduler has; BasicBackend answers the rest."""

from __future__ import annotations

from hpcbridge.backends.base import BasicBackend, Capabilities, Runner, command_failure
from hpcbridge.backends.directives import Directive, ScriptDirectives, read_block, refuse_line
from hpcbridge.backends.merge import FromScript, add_value
from hpcbridge.errors import InvalidParameter, NotFound, SchedulerError
from hpcbridge.models import CommandResult, Job, JobDetails, JobRecord, JobRequest, Node, Partition

from . import build, parse

_MODELLED = {"queue": "partition", "name": "job_name", "time": "time_limit"}


def _line(line_no: int, line: str, rest: str, kept: list[str], found: list[Directive]) -> None:
    key, eq, value = rest.strip().partition("=")
    if not eq:
        raise refuse_line(line_no, line, "is not key=value", f"{build.PREFIX} queue=NAME")
    if key in _MODELLED:
        found.append(Directive(key, value, line_no, line))
    else:
        kept.append(line)


class ToyBackend(BasicBackend):
    name = "toyq"
    capabilities = Capabilities(interactive=False, containers=False, gpu_types=False, start_estimate=False,
                                arrays=False, forced_delete=False, history="toyq hist")
    state_words = {code: frozenset({state}) for code, state in parse.STATES.items()}  # noqa: RUF012 - read only

    def __init__(self, run: Runner) -> None:
        self._run = run

    async def _ok(self, what: str, argv: list[str], **kwargs: object) -> str:
        result: CommandResult = await self._run(argv, **kwargs)
        if not result.ok:
            raise command_failure(what, result)
        return result.stdout

    async def version(self) -> str:
        return parse.version(await self._ok("toyq --version", build.version_argv()))

    async def whoami(self) -> str:
        return (await self._ok("id", ["id", "-un"])).strip()

    async def partitions(self) -> list[Partition]:
        return parse.queues(await self._ok("toyq queues", build.queues_argv()))

    async def nodes(self) -> list[Node]:
        return parse.nodes(await self._ok("toyq nodes", build.nodes_argv()))

    async def jobs(self, user: str | None = None, partition: str | None = None,
                   states: list[str] | None = None) -> list[Job]:
        found = parse.jobs(await self._ok("toyq stat", build.stat_argv(user)))
        return [j for j in found if not partition or j.partition == partition]

    async def job(self, job_id: str) -> JobDetails | None:
        return parse.details(await self._ok("toyq stat", build.stat_argv()), job_id)

    async def history(self, job_ids: list[str] | None = None, user: str | None = None, all_users: bool = False,
                      start_time: str | None = None, end_time: str | None = None) -> list[JobRecord]:
        records = parse.history(await self._ok("toyq hist", build.history_argv()))
        return [r for r in records if not job_ids or r.job_id in job_ids]

    def read_directives(self, script: str, foreign: tuple[str, ...]) -> tuple[ScriptDirectives, FromScript]:
        found = read_block(script, build.PREFIX, foreign, _line)
        values: FromScript = {}
        for d in found.directives:
            add_value(values, _MODELLED[d.option], d.value, d)
        return found, values

    async def check_request(self, req: JobRequest) -> None:
        if req.gpu_type:
            raise InvalidParameter("gpu_type", "toyq has no GPU types", "gpus without gpu_type")

    def render_script(self, req: JobRequest) -> str:
        return build.render_script(req)

    async def submit(self, script: str, req: JobRequest | None = None, *, test_only: bool = False) -> str:
        if test_only:
            raise SchedulerError("toyq has no test submission")
        job_id = parse.submitted(await self._ok("toyq sub", build.submit_argv(), stdin=script.encode()))
        if not job_id:
            raise SchedulerError("toyq sub printed no job id")
        return job_id

    async def _act(self, action: str, job_id: str) -> None:
        result = await self._run(build.job_argv(action, job_id))
        if "unknown job" in result.stderr:
            raise NotFound(f"job {job_id} is not in the queue")
        if not result.ok:
            raise command_failure(f"toyq {action} {job_id}", result)

    async def cancel(self, job_id: str, signal: str | None = None, force: bool = False) -> None:
        if force:
            raise InvalidParameter("force", "toyq has no forced deletion", "force=false")
        await self._act("del", job_id)

    async def hold(self, job_id: str) -> None:
        await self._act("hold", job_id)

    async def release(self, job_id: str) -> None:
        await self._act("release", job_id)
