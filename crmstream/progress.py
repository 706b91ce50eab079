"""The progress bar the commands, the demo and the bench show while they work."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


def progress_bar(
    console: Console, *, label_width: int = 10, show_percentage: bool = False
) -> Progress:
    """A bar per task: its label padded to ``label_width``, done of total, (percent), time."""
    columns: list[ProgressColumn] = [
        TextColumn(f"{{task.description:<{label_width}}}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if show_percentage:
        columns.append(TaskProgressColumn())
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=console)
