"""Local servers (Kafka, Elasticsearch, Prometheus) and the worker process.

Used by ``crmstream infra``, the demo and the tests.
"""

from crmstream.infra.control import infra_up, servers, status_table
from crmstream.infra.errors import InfraError
from crmstream.infra.servers import LocalServer, ServerStatus
from crmstream.infra.worker import WorkerProcess

__all__ = [
    "InfraError",
    "LocalServer",
    "ServerStatus",
    "WorkerProcess",
    "infra_up",
    "servers",
    "status_table",
]
