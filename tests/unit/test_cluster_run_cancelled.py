"""A caller cancelled while its command fails (seen on the dashboard: a page reloaded while the board asked a
cluster that refuses connections) leaves no "Task exception was never retrieved" behind."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from hpcbridge.config import ClusterConfig
from hpcbridge.errors import TransportError
from hpcbridge.services.cluster import Cluster

CONFIG = ClusterConfig.model_validate({"name": "dead", "transport": "local", "scheduler": "slurm"})


class RefusingTransport:
    description = "a host that refuses"

    async def run(self, argv: list[str], **_: Any) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:  # the connect fails as it is cancelled: an error, not the cancellation
            raise TransportError("cannot reach ssh alice@127.0.0.1:1") from None

    async def close(self) -> None:
        pass


async def test_a_cancelled_callers_failed_run_is_not_reported_as_never_retrieved() -> None:
    seen: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: seen.append(context))
    cluster = Cluster(CONFIG, RefusingTransport())  # type: ignore[arg-type]
    caller = asyncio.create_task(cluster.run(["id", "-un"]))
    await asyncio.sleep(0.05)
    caller.cancel()
    try:
        await caller
    except asyncio.CancelledError:
        pass
    del caller
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0)
    assert not [c for c in seen if "never retrieved" in str(c.get("message", ""))], seen
