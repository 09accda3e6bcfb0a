"""row_blocks: memory-bounded slices of rows."""

import numpy as np
import pytest

from ibdetect._chunking import CACHE_BYTES, row_blocks


@pytest.mark.parametrize("n_rows", [1, 999, 1000, 1001])
def test_the_blocks_cover_every_row_once_in_order(n_rows):
    covered = np.concatenate([np.arange(n_rows)[block] for block in row_blocks(n_rows, CACHE_BYTES // 100)])
    np.testing.assert_array_equal(covered, np.arange(n_rows))


def test_a_block_fills_the_cache_within_the_working_memory():
    assert row_blocks(1000, CACHE_BYTES // 10)[0] == slice(0, 10)
    # Fewer rows than the cache holds fit a small working memory.
    assert row_blocks(1000, 2**20, working_memory=3)[0] == slice(0, 3)
    # At least min_rows, and at least one row, even when a row fills the cache.
    assert row_blocks(1000, 2 * CACHE_BYTES, min_rows=8)[0] == slice(0, 8)
    assert row_blocks(1000, 2 * CACHE_BYTES)[0] == slice(0, 1)


def test_only_the_cached_part_of_a_row_sets_the_cache_rows():
    # 1 MiB a row, of which 4 KiB are read over and over: the cache holds
    # 1,024 rows of those, and the working memory, 64 MiB, 64 whole rows.
    assert row_blocks(10_000, 2**20, working_memory=64, cached_bytes=4 * 2**10)[0] == slice(0, 64)
    assert row_blocks(10_000, 2**20, working_memory=4096, cached_bytes=4 * 2**10)[0] == slice(0, CACHE_BYTES // 4096)
