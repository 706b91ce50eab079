"""The table store: every RocksDB of a process within one memory budget."""

from __future__ import annotations

from pathlib import Path

from faust.stores import by_url

from streams.app import app
from streams.state import BudgetedRocksDBOptions, BudgetedRocksDBStore, shared_budget


def test_the_app_tables_use_the_budgeted_store() -> None:
    assert by_url("crmstream://") is BudgetedRocksDBStore
    assert str(app.conf.store).startswith("crmstream:")


def test_databases_share_one_cache_and_write_buffer_manager(tmp_path: Path) -> None:
    options = BudgetedRocksDBOptions(write_buffer_size=4 << 20, memory_mb=16)
    cache, write_buffers = shared_budget(16)
    first, second = options.open(tmp_path / "a"), options.open(tmp_path / "b")
    try:
        for db in (first, second):
            before = write_buffers.get_usage()
            for i in range(2000):
                db[f"key-{i}".encode()] = b"x" * 200
            # Both databases' memtables are counted by the one manager, and charged to the cache.
            assert write_buffers.get_usage() > before
        assert cache.get_usage() >= write_buffers.get_usage() > 0
        assert write_buffers.get_buffer_size() == 8 << 20
    finally:
        first.close()
        second.close()
