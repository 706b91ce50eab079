"""Which local servers crmstream runs, bringing them up and showing their status.

The library behind ``crmstream infra up | status`` and the demo and bench, which
start the servers the same way. Kept apart from :mod:`crmstream.infra.servers`
because the choice includes the secured variants, which subclass the plain servers.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from config.settings import Settings
from crmstream.infra.servers import (
    AlertmanagerServer,
    ElasticsearchServer,
    KafkaServer,
    LocalServer,
    PrometheusServer,
)


def servers(settings: Settings) -> list[LocalServer]:
    """The servers crmstream needs, in start order.

    With ``local_security`` only the secured Kafka and Elasticsearch: Prometheus and
    Alertmanager hold no secrets and stay the plain ones.
    """
    if settings.local_security:
        # Imported only when asked for: the secured set-up loads the certificate tooling.
        from crmstream.infra.secured import SecuredElasticsearchServer, SecuredKafkaServer

        return [SecuredKafkaServer(settings), SecuredElasticsearchServer(settings)]
    return [
        KafkaServer(settings),
        ElasticsearchServer(settings),
        AlertmanagerServer(settings),
        PrometheusServer(settings),
    ]


def infra_up(settings: Settings, console: Console) -> None:
    """Start every local server that is not running yet; reuse healthy ones."""
    for server in servers(settings):
        started = time.monotonic()
        with console.status(f"{server.name}: fetching and starting at {server.address} ..."):
            launched = server.start()
        what = (
            f"started in {time.monotonic() - started:.1f}s"
            if launched
            else "already running, reused"
        )
        console.print(f"[green]✓[/green] {server.name} {server.address}: {what}")
    if settings.local_security:
        from crmstream.infra.secured import provision_client

        path = provision_client(settings)
        console.print(f"client settings (secrets, mode 0600): {path}")
        console.print(f"use them with: set -a; . {path}; set +a")


def status_table(settings: Settings) -> Table:
    """Each server, its address, health, who manages it and its pid."""
    table = Table("server", "address", "health", "managed by", "pid")
    for server in servers(settings):
        status = server.status()
        health = "[green]healthy[/green]" if status.healthy else "[red]down[/red]"
        managed = "crmstream (local)" if status.managed else "remote (not started)"
        table.add_row(status.name, status.address, health, managed, str(status.pid or "-"))
    return table
