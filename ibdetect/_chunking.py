"""Memory-bounded blocks of rows, for every pass over samples after training.

The net's inference and the distance kernels both walk their rows in blocks
of a few MiB, within scikit-learn's ``working_memory``, so that scoring
memory stays flat whatever the number of samples.
"""

from sklearn import get_config

__all__ = ["CACHE_BYTES", "row_blocks"]

# Blocks aim at this many bytes, which stay in the cache. The work is bound
# by memory traffic, not arithmetic: on one thread, the centre distances of
# 10^5 rows took 10 times as long in blocks of 128 MiB or more as in blocks
# of 1 to 16 MiB, and the k-NN search slowed down likewise.
CACHE_BYTES = 4 * 2**20


def row_blocks(n_rows, row_bytes, working_memory=None, min_rows=1, cached_bytes=None):
    """Slices of consecutive rows, each within ``working_memory`` MiB.

    A block takes about ``CACHE_BYTES``, but no fewer than ``min_rows`` rows,
    unless ``working_memory`` (scikit-learn's setting when None) holds fewer;
    and at least one row. ``cached_bytes``, the part of ``row_bytes`` that
    is read over and over (all of it when None), sets how many rows fill the
    cache: a network's activations gain from larger batches.
    """
    if working_memory is None:
        working_memory = get_config()["working_memory"]
    cache_rows = max(min_rows, CACHE_BYTES // (row_bytes if cached_bytes is None else cached_bytes))
    block_rows = max(1, min(int(working_memory * 2**20 // row_bytes), cache_rows))
    # Plain slices: scikit-learn's gen_batches validates its arguments at a
    # cost that a single-row request notices.
    return [slice(start, min(start + block_rows, n_rows)) for start in range(0, n_rows, block_rows)]
