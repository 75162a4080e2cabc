"""Error roots of the agent, by what the caller should do about them (see docs/adr/0001-errors.md)."""


class AgentError(Exception):
    """Root of every error the agent raises on purpose."""


class BadDataError(AgentError, ValueError):
    """Input that is not what it claims to be: reject it, keep the last good state."""


class TransportError(AgentError, OSError):
    """A link or file transfer failed: retry later."""


class ConfigError(AgentError, ValueError):
    """The configuration is invalid: never start a pipeline that could answer CLEAR."""
