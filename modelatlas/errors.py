"""The exceptions a ModelAtlas user can meet: each says what happened and what to do."""

from __future__ import annotations


class ModelAtlasError(Exception):
    """Base of every error ModelAtlas raises on purpose; its message is meant for the user."""


class ConfigurationError(ModelAtlasError):
    """A setting is missing or malformed."""


class WarehouseError(ModelAtlasError):
    """The warehouse could not be started, reached or queried."""


class SourceError(ModelAtlasError):
    """A source returned something ModelAtlas cannot load."""


class SourceUnreachableError(SourceError):
    """A source host could not be reached at all (DNS, connection refused, timeouts after retries)."""


class AuthenticationError(SourceError):
    """A provider rejected the credentials (401 or 403)."""


class RateLimitedError(SourceError):
    """A provider kept answering 429 after every retry the time budget allowed."""
