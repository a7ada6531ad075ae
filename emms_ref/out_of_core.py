"""EMMS on data that does not fit in memory, and on data split across machines.

:func:`emms_ref.scores.emms_score` needs the features of all N samples at
once. EMMS itself does not: the score depends on the data only through
centred second moments whose size is independent of N (see
:class:`emms_ref.solver.RegressionMoments`). This
module accumulates those moments over row blocks:

- :class:`EMMSAccumulator` takes blocks one at a time with ``update``, and
  ``merge`` combines it with an accumulator of other rows. Each worker of a
  cluster can therefore summarise its shard and send D^2 + D K L numbers to
  one machine;
- :func:`emms_score_blocks` scores an iterable of row blocks;
- :func:`iter_row_blocks` cuts in-memory or memory-mapped arrays into blocks,
  and releases the pages of a memory-mapped file once a block is done.

Memory is O(D^2 + D K L + B (D + K L)) for blocks of B rows, whatever N is,
and the score equals the in-memory one up to rounding.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterable, Iterator

import numpy as np

from ._validation import _as_checkable, check_finite, check_f_labels, pad_to_common_width
from .scores import EMMSResult, result_from_statistics
from .solver.backend import is_torch_tensor, machine_epsilon, select_backend
from .solver.moments import RegressionMoments
from .solver.statistics import statistics_from_moments

# Default block size in bytes of float64 working data per block.
DEFAULT_BLOCK_BYTES = 64 * 2**20


class EMMSAccumulator:
    """Accumulate the EMMS moments of row blocks, then score.

    Parameters
    ----------
    device, dtype
        As for :func:`emms_ref.emms_score`: where and in which precision the
        O(N) work runs. float64 by default.

    Examples
    --------
    >>> accumulator = EMMSAccumulator()
    >>> for features_block, f_label_blocks in blocks:    # doctest: +SKIP
    ...     accumulator.update(features_block, f_label_blocks)
    >>> accumulator.result().score                     # doctest: +SKIP

    On several machines, each worker fills one accumulator with its shard,
    sends ``accumulator.to_numpy()`` (a picklable copy) to one machine, and
    that machine combines them with ``merge``.
    """

    def __init__(self, *, device=None, dtype=None):
        self._device = device
        self._dtype = dtype
        self._backend = None
        self._moments = None
        self._input_eps = None
        self._n_updates = 0

    @property
    def n_samples(self) -> int:
        """Rows accumulated so far."""
        return 0 if self._moments is None else self._moments.n

    @property
    def moments(self) -> RegressionMoments | None:
        """The accumulated :class:`~emms_ref.solver.moments.RegressionMoments`."""
        return self._moments

    def update(self, features, f_labels) -> "EMMSAccumulator":
        """Add one block of rows.

        Parameters
        ----------
        features : array, shape (B, D)
            Features of B samples. Every block needs the same D.
        f_labels : sequence of K arrays of shape (B, L_k), or one array
            F-labels of the same B samples, as for :func:`emms_ref.emms_score`.
            Every block needs the same K and widths.

        Returns
        -------
        EMMSAccumulator
            ``self``, so that calls chain. The block is not modified or kept.
        """
        index = self._n_updates
        checked = _check_block_features(features, f"features block {index}")
        blocks = check_f_labels(f_labels, checked.shape[0], name=f"f_labels block {index}")
        if self._backend is None:
            self._backend = select_backend(self._device, self._dtype, checked, *blocks)
        backend = self._backend
        eps = [machine_epsilon(checked)] + [machine_epsilon(block) for block in blocks]
        if self._input_eps is not None and len(eps) != len(self._input_eps):
            raise ValueError(
                f"f_labels block {index} has {len(eps) - 1} F-label arrays but earlier blocks had "
                f"{len(self._input_eps) - 1}; every block needs the same encoders."
            )
        x = backend.asarray(checked)
        z = pad_to_common_width(backend, [backend.asarray(block) for block in blocks])
        moments = RegressionMoments.from_block(backend, x, z)
        if self._moments is None:
            self._moments, self._input_eps = moments, eps
        else:
            self._moments = _merge(self._moments, moments, f"block {index}")
            self._input_eps = [max(a, b) for a, b in zip(self._input_eps, eps)]
        self._n_updates += 1
        return self

    def merge(self, other: "EMMSAccumulator") -> "EMMSAccumulator":
        """Return a new accumulator holding the rows of ``self`` and ``other``.

        Both must contain disjoint rows of one data set (for example two
        shards) and come from the same backend. To combine accumulators from
        different devices or processes, convert each with :meth:`to_numpy`.
        """
        if not isinstance(other, EMMSAccumulator):
            raise TypeError(f"other must be an EMMSAccumulator, got {type(other).__name__}.")
        combined = EMMSAccumulator(device=self._device, dtype=self._dtype)
        if self._moments is None or other._moments is None:
            source = other if self._moments is None else self
            combined._backend, combined._moments = source._backend, source._moments
            combined._input_eps, combined._n_updates = source._input_eps, source._n_updates
            return combined
        if len(self._input_eps) != len(other._input_eps):
            raise ValueError(
                f"cannot merge accumulators with {len(self._input_eps) - 1} and "
                f"{len(other._input_eps) - 1} F-label arrays; both need the same encoders."
            )
        combined._backend = self._backend
        combined._moments = _merge(self._moments, other._moments, "the other accumulator")
        combined._input_eps = [max(a, b) for a, b in zip(self._input_eps, other._input_eps)]
        combined._n_updates = self._n_updates + other._n_updates
        return combined

    def to_numpy(self) -> "EMMSAccumulator":
        """Return a copy whose moments are numpy float64 arrays (picklable, device-free)."""
        copy = EMMSAccumulator(dtype=None)
        if self._moments is not None:
            copy._moments = self._moments.to_numpy()
            copy._backend = copy._moments.backend
            copy._input_eps = list(self._input_eps)
            copy._n_updates = self._n_updates
        return copy

    def result(self, *, method="exact", t_step="exact", max_iter=100, tol=1e-10, factorization="auto") -> EMMSResult:
        """Score the accumulated rows, as :func:`emms_ref.emms_score` would score them in memory.

        ``method`` is ``"exact"`` or ``"alternating"``; ``"release"`` needs the
        data itself. ``factorization`` is ``"auto"``, ``"cholesky"`` or ``"gram"``.
        """
        if self._moments is None:
            raise ValueError("the accumulator is empty; call update() with at least one block first.")
        if self._moments.n < 2:
            raise ValueError(
                f"EMMS needs at least 2 samples, the accumulator contains {self._moments.n}; add more blocks."
            )
        stats = statistics_from_moments(
            self._moments, factorization=factorization, input_eps=self._input_eps, stacklevel=2
        )
        backend = self._backend
        label = backend.name if backend.name == "numpy" else f"torch:{backend.device}"
        return result_from_statistics(
            stats, method=method, t_step=t_step, max_iter=max_iter, tol=tol, backend_label=label
        )


def emms_score_blocks(
    blocks: Iterable,
    *,
    method="exact",
    t_step="exact",
    max_iter=100,
    tol=1e-10,
    device=None,
    dtype=None,
    factorization="auto",
    progress=False,
    total=None,
) -> EMMSResult:
    """Score row blocks without holding all N rows in memory.

    Parameters
    ----------
    blocks : iterable of (features_block, f_labels_block) pairs
        Disjoint row blocks of one data set: features of shape (B, D) and
        F-labels as for :func:`emms_ref.emms_score` with B rows. Any
        generator works, for example one that reads a file or extracts
        features batch by batch. See :func:`iter_row_blocks` for arrays.
    method, t_step, max_iter, tol, device, dtype, factorization
        As for :func:`emms_ref.emms_score`; ``method`` is ``"exact"`` or
        ``"alternating"`` and ``factorization`` is not ``"svd"``.
    progress : bool
        Show a tqdm progress bar over the blocks.
    total : int, optional
        Number of blocks, for the progress bar.

    Returns
    -------
    EMMSResult
        The score :func:`emms_ref.emms_score` gives on the concatenated rows,
        up to rounding.
    """
    if method not in ("exact", "alternating"):
        raise ValueError(
            f"method must be 'exact' or 'alternating' for row blocks, got {method!r}; "
            "'release' needs the whole data in memory (use emms_score)."
        )
    if factorization == "svd":
        raise ValueError(
            "factorization='svd' needs the whole feature matrix; use 'auto', 'cholesky' or 'gram' "
            "with row blocks."
        )
    accumulator = EMMSAccumulator(device=device, dtype=dtype)
    iterator = blocks
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(blocks, total=total, desc="EMMS row blocks", unit="block")
    for pair in iterator:
        try:
            features_block, f_labels_block = pair
        except (TypeError, ValueError):
            raise TypeError(
                "blocks must yield (features_block, f_labels_block) pairs, "
                f"got {type(pair).__name__}."
            ) from None
        accumulator.update(features_block, f_labels_block)
    if accumulator.n_samples == 0:
        raise ValueError("blocks yielded no rows; pass at least one (features, f_labels) block.")
    return accumulator.result(method=method, t_step=t_step, max_iter=max_iter, tol=tol, factorization=factorization)


def iter_row_blocks(features, f_labels, *, block_rows=None) -> Iterator:
    """Yield (features, f_labels) row blocks of in-memory or memory-mapped arrays.

    Parameters
    ----------
    features : array, shape (N, D)
        For example ``np.load(path, mmap_mode="r")``.
    f_labels : sequence of K arrays of shape (N, L_k)
        Memory-mapped arrays work too.
    block_rows : int, optional
        Rows per block. The default keeps one block of float64 working data
        near 64 MiB.

    Yields
    ------
    tuple
        ``(features[a:b], [block[a:b] for block in f_labels])``. Blocks are
        views. When the consumer requests the next block, the pages of
        memory-mapped inputs that the previous block used are released to the
        operating system, so resident memory stays bounded.
    """
    f_label_list = [f_labels] if _is_array(f_labels) else list(f_labels)
    n_samples = features.shape[0]
    for k, block in enumerate(f_label_list):
        if block.shape[0] != n_samples:
            raise ValueError(
                f"f_labels[{k}] has {block.shape[0]} rows but the features have {n_samples}; "
                "both need one row per sample."
            )
    if block_rows is None:
        width = features.shape[1] + sum(int(np.prod(block.shape[1:])) for block in f_label_list)
        block_rows = max(1, DEFAULT_BLOCK_BYTES // (8 * max(width, 1)))
    if int(block_rows) != block_rows or block_rows < 1:
        raise ValueError(f"block_rows must be a positive integer, got {block_rows!r}.")
    block_rows = int(block_rows)
    for start in range(0, n_samples, block_rows):
        stop = min(start + block_rows, n_samples)
        yield features[start:stop], [block[start:stop] for block in f_label_list]
        for array in (features, *f_label_list):
            release_mapped_rows(array, start, stop)


def release_mapped_rows(array, start: int, stop: int) -> bool:
    """Drop the resident pages of rows ``start:stop`` of a memory-mapped array.

    The data stays in the file (and in the page cache); only this process's
    resident set shrinks. Returns True when pages were released, False for
    arrays that are not backed by a readable ``numpy.memmap`` or on platforms
    without ``madvise``.
    """
    handle = getattr(array, "_mmap", None)
    # Copy-on-write mappings ("c") hold private changes that MADV_DONTNEED
    # would discard, so only read-only and shared mappings are released.
    if getattr(array, "mode", None) not in ("r", "r+", "readonly", "readwrite"):
        return False
    if handle is None or not hasattr(handle, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return False
    if not array.flags.c_contiguous or stop <= start:
        return False
    base_address = np.frombuffer(handle, dtype=np.uint8).ctypes.data
    row_bytes = array.strides[0]
    first = array.ctypes.data + start * row_bytes - base_address
    last = array.ctypes.data + stop * row_bytes - base_address
    page = mmap.PAGESIZE
    first_page = (first // page) * page
    length = min(last, len(handle)) - first_page
    if length <= 0:
        return False
    handle.madvise(mmap.MADV_DONTNEED, first_page, length)
    return True


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray) or is_torch_tensor(value)


def _check_block_features(features, name):
    if features is None:
        raise ValueError(f"{name} is missing; pass an (B, D) array of features.")
    array = _as_checkable(features, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (B, D), got shape {tuple(array.shape)}; "
            "flatten or pool the features of each sample into one row."
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} is empty, got shape {tuple(array.shape)}; skip empty blocks.")
    check_finite(array, name)
    return array


def _merge(first: RegressionMoments, second: RegressionMoments, what: str) -> RegressionMoments:
    try:
        return first.merge(second)
    except ValueError as error:
        raise ValueError(f"{what} does not match the rows accumulated before it: {error}") from None
