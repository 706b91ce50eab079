"""Table storage: RocksDB with one memory budget for all of a worker's tables.

Faust opens one RocksDB per table and partition, each with its own block cache and
memtables (crmstream has three tables over six partitions: eighteen databases). Every
one of them fills its cache and write buffers as keys arrive, so a worker's memory
grows with the number of databases, not with the work. This store gives all of a
process's databases one block cache and one write-buffer manager whose memtables are
charged to that cache, so RocksDB's memory stays under one limit however many tables
and partitions a worker holds (RocksDB wiki: "Write Buffer Manager").

It is registered as the Faust store ``crmstream://`` (an entry point of the
``faust.stores`` group in ``pyproject.toml``); :data:`streams.app.app` uses it.
"""

from __future__ import annotations

import functools
from typing import Any

import rocksdict
from faust.stores import rocksdb as faust_rocksdb

from config.settings import get_settings
from crmstream.errors import ConfigurationError

MB = 1024**2


@functools.cache
def shared_budget(megabytes: int) -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
    """The block cache and write-buffer manager every database of this process shares.

    Memtables may take half of the budget; what they take is charged to the cache, so
    cache and memtables together stay within ``megabytes``.
    """
    cache = rocksdict.Cache(megabytes * MB)
    write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
        megabytes * MB // 2, False, cache
    )
    return cache, write_buffers


class BudgetedRocksDBOptions(faust_rocksdb.RocksDBOptions):
    """Faust's RocksDB options, with the shared cache and write-buffer manager."""

    def __init__(self, *args: Any, memory_mb: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.memory_mb = memory_mb

    def as_options(self) -> rocksdict.Options:
        cache, write_buffers = shared_budget(self.memory_mb)
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        if self.max_open_files is not None:
            options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_write_buffer_manager(write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(cache)
        # Index and filter blocks live in the cache too, not beside it, so they are
        # bounded by the same budget as the data grows.
        table.set_cache_index_and_filter_blocks(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class BudgetedRocksDBStore(faust_rocksdb.Store):
    """Faust's RocksDB table store, within the process's one memory budget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.use_rocksdict:
            raise ConfigurationError(
                "the crmstream:// store needs rocksdict (pip install rocksdict)"
            )
        self.rocksdb_options = BudgetedRocksDBOptions(
            **(self.options or {}),
            use_rocksdict=True,
            memory_mb=get_settings().table_memory_mb,
        )
