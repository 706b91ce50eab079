"""The one root of every failure crmstream expects, and its tree.

A caller catches :class:`CrmstreamError` for "anything crmstream raises on purpose";
the command line prints it as one line and exits non-zero. Each exception also keeps
the built-in base it had before the root existed, so ``except ValueError`` and
``except RuntimeError`` around crmstream calls still catch what they caught.
Programming errors (a wrong argument from code, a broken invariant) stay plain
built-in exceptions: they are bugs, and a traceback is what they deserve.

The tree (each class is defined next to the code that raises it)::

    CrmstreamError                      crmstream.errors
    ├── ConfigurationError (RuntimeError) crmstream.errors: a setting or install is missing
    ├── DatasetError (ValueError)       crmstream.errors: a history or evaluation file
    │                                   lacks what was asked of it (a column, rows, labels)
    ├── InvalidEvent (ValueError)       schemas.parsing: a message breaks its contract
    ├── MappingError (ValueError)       crmstream.replay: a replay mapping or row is wrong
    ├── AlertRulesError (ValueError)    streams.alert_config: the alerts config is invalid
    ├── SnapshotRejected (ValueError)   models.snapshots: a model snapshot is not accepted
    │   └── SnapshotFormatError         models.bundle: a snapshot format this code cannot read
    ├── ProfileConfigError (ValueError) streams.profiles: config/customers.yml is invalid
    ├── GeneratorArgumentError (ValueError) crmstream.generator: a generator argument is
    │                                   out of range (``generate --zh-share 2``)
    ├── CommunicationNotFound (LookupError) crmstream.similar: no such event id
    ├── AccessError (RuntimeError)      streams.access: a credential or certificate is refused
    ├── TopicSetupError (RuntimeError)  streams.topics: a topic cannot be made as configured
    └── InfraError (RuntimeError)       crmstream.infra.errors: a local server failed

This module imports nothing, so every package can use it without a cycle.
"""

from __future__ import annotations


class CrmstreamError(Exception):
    """Root of every failure crmstream expects; its message is meant for people."""


class ConfigurationError(CrmstreamError, RuntimeError):
    """A required setting is missing or an optional dependency is not installed."""


class DatasetError(CrmstreamError, ValueError):
    """A history or evaluation file lacks what was asked of it (a column, rows, labels)."""
