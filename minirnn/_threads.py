"""Threads over the rows of a batch: one switch, one small pool, three helpers.

NumPy's ufuncs (``np.exp``, ``np.tanh``, ``np.multiply``, ...) and its matrix products
release the GIL while they run, so two Python threads working on two halves of the rows
of an array run on two cores at once.  That is the only parallelism minirnn adds to
BLAS's own threads, and it lives here, out of the layers' readable code: a layer writes
its formula once for a block of rows and hands it to ``for_rows``:

    def recurrence(rows):                        # rows a:b of the batch (each row's own)
        for t in range(T):                       # H_{t+1} = f(P_t + H_t W_hh)
            ...
    for_rows(recurrence, B, T * H)

With one thread (or a small array) ``for_rows`` just calls ``recurrence(slice(0, B))``: a
reader stepping through it in a debugger sees the plain formula over every row.  Two
helpers cover the matrix products outside the loops: ``matmul_rows(a, b, out)``
(``out = a b``, a block of rows each) and ``matmul_at(a, b)`` (``a^T b``, the sum over the
rows in every weight gradient ``dL/dW = X^T dZ``: each block's partial sum, added).

The switch: ``minirnn.set_num_threads(n)``, for minirnn's threads and BLAS's (OpenBLAS,
as NumPy's wheels bundle it, is found among the loaded libraries and told ``n`` too; with
another BLAS only minirnn's own threads change).  Default: the BLAS thread count,
``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) as the environment
gives it when minirnn is imported; ``minirnn`` sets it to 1 when the user set none (see
``minirnn/__init__.py``), so by default nothing here starts a thread.

While ``for_rows`` runs blocks in threads, BLAS runs one thread per call: each block's
matrix products are already one of the ``n`` parallel parts (two levels of threads would
ask for ``n * n`` cores).

Only work that pays runs in threads (``benchmarks/throughput.py --choices`` times each
use against one thread): a block must hold at least ``MIN_ELEMENTS`` entries, else the
cost of handing it to a thread (about 20 to 50 microseconds) is more than it saves.
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["THIN", "thin", "set_num_threads", "get_num_threads", "for_rows", "matmul_at", "matmul_rows", "row_blocks",
           "MIN_ELEMENTS", "MIN_ROWS"]

#: Fewest entries (rows x columns) a block of rows must hold to be worth a thread.
MIN_ELEMENTS = 1 << 15
#: Products in row blocks only while every side but N is at most this: a thin product
#: (the 1.0 book's 28 and 32) is what OpenBLAS's own threads split badly; a wide one (the
#: 0.17 book's 512) they split well, and blocks on top were 1.3x slower with two threads
#: (``benchmarks/ab_step.py --baseline 07ff25f --processes``, the 0.17 shape).
THIN = 128


def thin(*sides: int) -> bool:
    """True when every given side of a product is at most ``THIN``: worth row blocks."""
    return all(s <= THIN for s in sides)


#: Fewest rows a block must hold: with fewer, a block's products re-read their weight
#: matrix for little work (the 0.17 book's batch of 32 stays one block, BLAS's threads
#: share its products instead).
MIN_ROWS = 128


def _default_threads() -> int:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


_num_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _find_blas_set_num_threads():
    """OpenBLAS's ``set_num_threads`` in the library NumPy loaded, or None (another BLAS,
    or not Linux).  The same look-up ``threadpoolctl`` makes, for the one BLAS NumPy wheels
    bundle."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                return setter
    return None


_blas_setter = None                 # OpenBLAS's set_num_threads, looked up on first use
_blas_looked_up = False             # (not at import: ``import minirnn`` loads no NumPy)


def _set_blas_threads(n: int) -> None:
    global _blas_setter, _blas_looked_up
    if not _blas_looked_up:
        _blas_setter, _blas_looked_up = _find_blas_set_num_threads(), True
    if _blas_setter is not None:
        _blas_setter(n)


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (1: none) for minirnn's work over rows of a batch, and tell
    OpenBLAS (when NumPy's is found) to use ``n`` threads for a matrix product too."""
    global _num_threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1, got {n!r}")
    with _pool_lock:
        if _pool is not None and _pool._max_workers < n - 1:    # too small: a new one when used
            _pool.shutdown(wait=True)
            _pool = None
        _num_threads = n
    _set_blas_threads(n)


def get_num_threads() -> int:
    """The number of threads ``for_rows`` uses (``set_num_threads``)."""
    return _num_threads


def row_blocks(num_rows: int, row_size: int = 1, threads: int | None = None) -> list[slice]:
    """``num_rows`` rows cut into at most ``threads`` equal, contiguous blocks, each of at
    least ``MIN_ROWS`` rows and ``MIN_ELEMENTS / row_size`` rows (entries per row:
    ``row_size``)."""
    threads = _num_threads if threads is None else threads
    min_rows = max(MIN_ROWS, -(-MIN_ELEMENTS // max(1, row_size)))  # ceil(MIN_ELEMENTS / row_size)
    k = max(1, min(threads, num_rows // min_rows))
    bounds = [num_rows * i // k for i in range(k + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(k)]


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_num_threads - 1,
                                       thread_name_prefix="minirnn")
        return _pool


def for_rows(body, num_rows: int, row_size: int = 1, split: bool = True) -> None:
    """Call ``body(rows)`` for contiguous slices ``rows`` covering ``range(num_rows)``, in
    parallel over ``get_num_threads()`` threads (the calling thread takes the first block).

    ``body`` must write only into its own rows of its outputs; ``row_size`` (the entries
    per row) decides whether the work is big enough to split (``MIN_ELEMENTS``).  An
    exception in any block is raised here, after every block has finished.  ``split=False``:
    one block, ``body(slice(0, num_rows))`` (for a body that needs every row at once)."""
    for_rows_blocks(body, row_blocks(num_rows, row_size) if split else [slice(0, num_rows)])


def for_rows_blocks(body, blocks: list) -> None:
    """``for_rows`` over the given ``blocks`` (slices), the first in the calling thread.
    Called from inside a block (a worker of the pool), the blocks run one after the other
    there: waiting in a worker for the pool could wait forever."""
    if len(blocks) == 1 or threading.current_thread().name.startswith("minirnn"):
        for rows in blocks:
            body(rows)
        return
    _set_blas_threads(1)                           # each block's products: one BLAS thread
    try:
        futures = [_get_pool().submit(body, rows) for rows in blocks[1:]]
        try:
            body(blocks[0])
        finally:
            for f in futures:                      # wait for all, even if one failed
                f.exception()
    finally:
        _set_blas_threads(_num_threads)
    for f in futures:
        f.result()                                 # re-raise a worker's exception


def matmul_at(a, b):
    """``a^T b`` for ``a (N, m)`` and ``b (N, k)`` (or ``(N,)``): a sum over the N rows, as
    in every weight gradient (``dL/dW = X^T dZ``).  With threads, each block of rows gives
    its own ``a[rows]^T b[rows]`` and the blocks' results are added: OpenBLAS's own threads
    split such a product (N large, m and k small) badly (``benchmarks/throughput.py
    --choices``).  One block: exactly ``a.T @ b``."""
    k = b.shape[1] if b.ndim > 1 else 1
    blocks = row_blocks(len(a), a.shape[1] + k) if thin(a.shape[1], k) else [slice(0, len(a))]
    if len(blocks) == 1:
        return a.T @ b
    parts = [None] * len(blocks)

    def block(rows):
        parts[blocks.index(rows)] = a[rows].T @ b[rows]
    for_rows_blocks(block, blocks)
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def matmul_rows(a, b, out):
    """``a b`` into ``out`` for ``a (N, k)``, ``b (k, m)``, ``out (N, m)``: each block of rows
    ``out[rows] = a[rows] b`` (``for_rows``; one BLAS thread a block).  One block: exactly
    ``np.matmul(a, b, out=out)``."""
    def block(rows):
        np.matmul(a[rows], b, out=out[rows])
    for_rows(block, len(a), a.shape[1] + out.shape[1], split=thin(a.shape[1], out.shape[1]))
    return out
