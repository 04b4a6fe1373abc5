"""Parameter types shared by several tool modules (one description each, one JSON schema each)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

ClusterArg = Annotated[str | None, Field(description="Cluster name (default: the configured default cluster)")]
Limit = Annotated[int, Field(description="Page size", ge=1, le=500)]
Offset = Annotated[int, Field(description="Items to skip (from next_offset of the previous page)", ge=0)]
DirType = Annotated[str | None, Field(description="datasets, results, models, logs, projects, scratch, home, "
                                                  "container_root or gpfs; relative paths start there")]
Pattern = Annotated[str | None, Field(description="Name pattern, e.g. '*.pt' or 'checkpoint-*'")]
PageLimit = Annotated[int, Field(description="Page size", ge=1, le=1000)]
JobId = Annotated[str | int, Field(description="Job id, e.g. '1234', '1234_7' (Slurm array task) or '1234.server' "
                                        "(PBS)")]
UserArg = Annotated[str | None, Field(description="A user name, 'me' for the SSH user, or omit for everyone")]
