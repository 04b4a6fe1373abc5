"""Container image tools of the Slurm plan (14, 17): find .sqsh images and check one before use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..services import containers
from ..services.containers import ContainerImage, ImageCheck
from . import render_files as render
from .params import ClusterArg
from .toolkit import ToolKit, reply


@dataclass(frozen=True)
class ImageList:
    cluster: str
    images: list[ContainerImage]
    total: int


def register(kit: ToolKit) -> None:
    registry = kit.registry

    @kit.tool(read_only=True, output=ImageList)
    async def list_container_images(
        image_dir: Annotated[str | None, Field(description="One image directory (default: all configured)")] = None,
        pattern: Annotated[str | None, Field(description="Name pattern, e.g. 'pytorch*' or '*cuda12*'")] = None,
        limit: Annotated[int, Field(description="At most this many", ge=1, le=500)] = 50,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Container images (.sqsh) for Pyxis/enroot: name, path, size, modified time; newest first."""
        c = registry.get(cluster)
        found = await containers.list_images(c, image_dir, pattern)
        result = ImageList(c.name, found[:limit], len(found))
        return reply(result, render.images(result.images))

    @kit.tool(read_only=True, output=ImageCheck)
    async def validate_container_image(
        image_path: Annotated[str, Field(description="Path of the .sqsh image")], cluster: ClusterArg = None,
    ) -> ToolResult:
        """Check an image before using it: exists, readable, really squashfs (magic bytes), size, and
        allowed by policy."""
        c = registry.get(cluster)
        check = await containers.check_image(c, image_path)
        return reply(check, render.image_check(check))
