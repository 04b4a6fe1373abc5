"""Transports do the I/O: run an argv on the cluster, move bytes to a file. Nothing else."""

from .base import Transport

__all__ = ["Transport"]
