"""The progress bar the commands, the demo and the bench show while they work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


@contextmanager
def progress_callback(console: Console, label: str) -> Iterator[Callable[[int, int], None]]:
    """One bar for work that reports ``progress(done, total)`` as it goes (the total may
    be known only then, as for ``crmstream eval`` and ``bootstrap``): the callback.

    >>> from io import StringIO
    >>> with progress_callback(Console(file=StringIO()), "learning") as progress:
    ...     progress(5, 10)
    """
    with progress_bar(console) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
