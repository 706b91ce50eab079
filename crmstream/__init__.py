"""crmstream: real-time intelligence from customer communications.

The command line lives in :mod:`crmstream.cli`, local server management in
:mod:`crmstream.infra`, and the event generator in :mod:`crmstream.generator`.
The stream processing itself is in the top-level packages ``streams``,
``agents``, ``models`` and ``schemas``; settings are in ``config``.
"""

__version__ = "0.1.0"
