"""crmstream: real-time intelligence from customer communications.

The command line lives in :mod:`crmstream.cli` and only parses arguments: it calls
library code such as :mod:`crmstream.cluster` (cluster set-up, the warm-start
snapshot), :mod:`crmstream.processes` (worker and learner), local server management
in :mod:`crmstream.infra`, and the event generator in :mod:`crmstream.generator`.
Nothing imports the command line.
The stream processing itself is in the top-level packages ``streams``,
``agents``, ``models`` and ``schemas``; settings are in ``config``.
"""

__version__ = "0.1.0"
