"""hpcbridge: operate Slurm and PBS clusters from AI agents (MCP), a CLI and a dashboard."""

__version__ = "0.1.0"
