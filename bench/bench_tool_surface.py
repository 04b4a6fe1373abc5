"""What each toolset costs an agent's context: model-visible bytes (name + description + inputSchema) and the
whole tools/list entries, per toolset, for the default set and for all. No cluster needed.

    python bench/bench_tool_surface.py
"""

from __future__ import annotations

import asyncio

from hpcbridge.config import load_settings
from hpcbridge.server.surface import per_toolset


async def main() -> None:
    settings = load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": ""})
    for s in await per_toolset(settings):
        print(f"{','.join(s.toolsets):<48} {s.tools:>3} tools {s.visible_bytes / 1024:6.1f} KB visible "
              f"{s.whole_bytes / 1024:6.1f} KB tools/list")


if __name__ == "__main__":
    asyncio.run(main())
