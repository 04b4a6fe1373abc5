"""One error root. Every failure a user can see is an HpcBridgeError with a message an agent can act on.

Tool functions convert these to fastmcp's ToolError at the boundary (server/); nothing below the server
layer imports fastmcp.
"""

from __future__ import annotations


class HpcBridgeError(Exception):
    """Root of every user-facing error. `transient` says whether retrying may help."""

    transient: bool = False

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if transient is not None:
            self.transient = transient

    def __str__(self) -> str:
        return self.message


class ConfigError(HpcBridgeError):
    """The configuration is missing, unreadable or contradictory."""


class NoClusterConfigured(ConfigError):
    """Neither the environment nor the config file names a cluster (what needs none, e.g. `tools`, goes on)."""


class InvalidParameter(HpcBridgeError):
    """A caller-supplied value is malformed. The message names the parameter and the valid form."""

    def __init__(self, parameter: str, problem: str, valid_form: str) -> None:
        super().__init__(f"invalid {parameter}: {problem}; expected {valid_form}")
        self.parameter = parameter


class PolicyError(HpcBridgeError):
    """The request is well formed but configuration policy forbids it."""


class ReadOnlyCluster(PolicyError):
    """A change asked of a cluster configured `read_only = true`; refused before anything is sent."""

    def __init__(self, cluster: str, action: str) -> None:
        super().__init__(f"cluster '{cluster}' is read-only (read_only = true): {action} refused; "
                         "reading (jobs, queue, files, history) still works")
        self.cluster = cluster
        self.action = action


class NotFound(HpcBridgeError):
    """A job, partition, node or cluster that does not exist (the message lists what does)."""


class InfeasibleRequest(HpcBridgeError):
    """The request can never run where it was asked (the message says what is available)."""


class TransportError(HpcBridgeError):
    """The cluster could not be reached or the connection broke."""

    transient = True


class CommandTimeout(TransportError):
    """A command did not finish within its timeout."""


class SchedulerError(HpcBridgeError):
    """The scheduler refused or failed a command; the message carries its own words."""


class PrivilegeError(HpcBridgeError):
    """The scheduler refused because the user lacks the rights (not the owner, not an operator/manager)."""


class Unsupported(HpcBridgeError):
    """The cluster's scheduler cannot do what was asked (the message says what it can do instead)."""
