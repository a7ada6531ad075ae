"""Centred second moments of features and F-labels, accumulated over row blocks.

Everything EMMS needs from the N rows of the data fits in a few centred
moment matrices whose size does not depend on N:

    n, the row count
    mean_x (D,), mean_z (K L,)          column means
    s_xx = Xc^T Xc (D, D)               centred feature Gram matrix
    s_xz = Xc^T Zc (D, K L)             centred feature / F-label products
    s_zz[j, k, l] = sum_i Zc_j[i, l] Zc_k[i, l]   (K, K, L)
    max|X| and max|Z_k|                 for the constant-column rule

Xc and Zc are the columns minus their means. Standardising the columns scales
these matrices by the column standard deviations, so the statistics of
:mod:`emms_ref.solver.statistics` follow from the moments alone.

Two accumulators over disjoint row sets merge exactly (Chan, Golub and LeVeque,
1979). With counts n_a, n_b, n = n_a + n_b and mean differences
dx = mean_x_b - mean_x_a, dz = mean_z_b - mean_z_a:

    s_xx = s_xx_a + s_xx_b + (n_a n_b / n) dx dx^T
    s_xz = s_xz_a + s_xz_b + (n_a n_b / n) dx dz^T

and the same for the diagonal blocks of s_zz. Each block is centred on its own
mean before its products are formed, so no large mean is subtracted from a
large sum of squares. This is what makes out-of-core scoring and scoring on
several machines (one accumulator per shard, merged at the end) give the
in-memory result to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bytes of float64 working memory for the centred rows of one chunk.
CHUNK_BYTES = 32 * 2**20


@dataclass
class RegressionMoments:
    """Centred moments of features X (N, D) and K padded F-label blocks (N, L).

    Build one with :meth:`from_block` and combine with :meth:`merge`. Arrays
    live on the backend that computed them (numpy or torch); the row count and
    the maxima are Python numbers.
    """

    backend: object
    n: int
    mean_x: object
    mean_z: object
    s_xx: object
    s_xz: object
    s_zz: object
    max_abs_x: float
    max_abs_z: list
    n_blocks: int
    width: int

    @property
    def n_features(self) -> int:
        return int(self.s_xx.shape[0])

    @property
    def n_flabels(self) -> int:
        return len(self.max_abs_z)

    @classmethod
    def from_block(cls, backend, features, f_labels) -> "RegressionMoments":
        """Compute the moments of one row block.

        Parameters
        ----------
        backend : NumpyBackend or TorchBackend
        features : backend array, shape (B, D)
        f_labels : list of K backend arrays, each of shape (B, L)
            Already padded to one width L.
        """
        n_rows = int(features.shape[0])
        width = int(f_labels[0].shape[1])
        k = len(f_labels)
        n_features = int(features.shape[1])
        mean_x = backend.column_mean(features)
        means_z = [backend.column_mean(block) for block in f_labels]
        mean_z = backend.concatenate_columns([mean[None, :] for mean in means_z])[0]

        # Centre CHUNK_BYTES worth of rows at a time into reused buffers and
        # accumulate their products. This is exact centering on the block
        # mean, without allocating (and page-faulting) a centred copy of the
        # whole block.
        chunk_rows = max(1, min(n_rows, CHUNK_BYTES // (8 * (n_features + k * width))))
        buffer_x = backend.empty((chunk_rows, n_features))
        buffer_z = backend.empty((chunk_rows, k * width))
        s_xx = backend.zeros((n_features, n_features))
        s_xz = backend.zeros((n_features, k * width))
        s_zz = backend.zeros((k, k, width))
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            rows = stop - start
            centred_x = backend.subtract(features[start:stop], mean_x, out=buffer_x[:rows])
            centred_z = buffer_z[:rows]
            for j, (block, mean) in enumerate(zip(f_labels, means_z)):
                backend.subtract(block[start:stop], mean, out=centred_z[:, j * width : (j + 1) * width])
            # X^T X of one C-contiguous array lets BLAS use the symmetric
            # rank-k update (half the flops of a general product).
            s_xx += centred_x.T @ centred_x
            s_xz += centred_x.T @ centred_z
            for i in range(k):
                for j in range(i, k):
                    s_zz[i, j] += backend.column_dot(
                        centred_z[:, i * width : (i + 1) * width], centred_z[:, j * width : (j + 1) * width]
                    )
        for i in range(k):
            for j in range(i):
                s_zz[i, j] = s_zz[j, i]
        return cls(
            backend=backend,
            n=n_rows,
            mean_x=mean_x,
            mean_z=mean_z,
            s_xx=s_xx,
            s_xz=s_xz,
            s_zz=s_zz,
            max_abs_x=_max_abs(backend, features),
            max_abs_z=[_max_abs(backend, block) for block in f_labels],
            n_blocks=1,
            width=width,
        )

    def merge(self, other: "RegressionMoments") -> "RegressionMoments":
        """Return the moments of the union of two disjoint row sets (neither input changes)."""
        if self.backend.name != other.backend.name:
            raise ValueError(
                f"cannot merge moments computed on backend {self.backend.name!r} with moments "
                f"computed on {other.backend.name!r}; compute every block on one backend."
            )
        if (self.n_features, self.n_flabels, self.width) != (other.n_features, other.n_flabels, other.width):
            raise ValueError(
                "cannot merge moments of different shapes: "
                f"(D, K, L) = {(self.n_features, self.n_flabels, self.width)} and "
                f"{(other.n_features, other.n_flabels, other.width)}; every block needs the same "
                "feature width, number of F-label blocks and F-label width."
            )
        n = self.n + other.n
        factor = self.n * other.n / n
        delta_x = other.mean_x - self.mean_x
        delta_z = other.mean_z - self.mean_z
        k, width = self.n_flabels, self.width
        delta_blocks = delta_z.reshape(k, width)
        outer_zz = delta_blocks[:, None, :] * delta_blocks[None, :, :]
        return RegressionMoments(
            backend=self.backend,
            n=n,
            mean_x=self.mean_x + delta_x * (other.n / n),
            mean_z=self.mean_z + delta_z * (other.n / n),
            s_xx=self.s_xx + other.s_xx + factor * (delta_x[:, None] * delta_x[None, :]),
            s_xz=self.s_xz + other.s_xz + factor * (delta_x[:, None] * delta_z[None, :]),
            s_zz=self.s_zz + other.s_zz + factor * outer_zz,
            max_abs_x=max(self.max_abs_x, other.max_abs_x),
            max_abs_z=[max(a, b) for a, b in zip(self.max_abs_z, other.max_abs_z)],
            n_blocks=self.n_blocks + other.n_blocks,
            width=width,
        )

    def to_numpy(self) -> "RegressionMoments":
        """Return a copy with numpy float64 arrays, for sending to another process or machine."""
        from .backend import NumpyBackend

        convert = self.backend.to_numpy
        return RegressionMoments(
            backend=NumpyBackend(np.float64),
            n=self.n,
            mean_x=np.array(convert(self.mean_x)),
            mean_z=np.array(convert(self.mean_z)),
            s_xx=np.array(convert(self.s_xx)),
            s_xz=np.array(convert(self.s_xz)),
            s_zz=np.array(convert(self.s_zz)),
            max_abs_x=self.max_abs_x,
            max_abs_z=list(self.max_abs_z),
            n_blocks=self.n_blocks,
            width=self.width,
        )


def _max_abs(backend, array) -> float:
    if array.shape[0] == 0 or array.shape[1] == 0:
        return 0.0
    return backend.max_abs(array)
