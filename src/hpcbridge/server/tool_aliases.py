"""The PBS plan's tool names as aliases of hpcbridge's own (off by default: `tool_aliases = ["pbs"]`).

hpcbridge has one vocabulary for both schedulers (a PBS queue is a partition); these aliases exist for
agents and prompts written against the PBS plan. They are the same tools under another name, with the
PBS plan's parameter names, so nothing is implemented twice.
"""

from __future__ import annotations

from fastmcp.tools.tool_transform import ArgTransform, Tool

from .toolkit import ToolKit

# alias -> (hpcbridge tool, {hpcbridge parameter: the PBS plan's name})
PBS_ALIASES: dict[str, tuple[str, dict[str, str]]] = {
    "get_job_status": ("get_job_details", {}),
    "delete_job": ("cancel_job", {}),
    "list_queues": ("get_partition_info", {"partition_name": "queue_name"}),
    "list_nodes": ("get_node_info", {"state": "state_filter"}),
}


def register(kit: ToolKit) -> None:
    for alias, (target, renames) in PBS_ALIASES.items():
        if target not in kit.tools:
            continue  # not offered (every cluster read-only)
        tool = kit.tools[target]
        kit.mcp.add_tool(Tool.from_tool(
            tool, name=alias, description=f"(PBS plan name of {target}) {tool.description or ''}",
            transform_args={old: ArgTransform(name=new) for old, new in renames.items()},
        ))
