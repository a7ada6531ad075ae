"""Array backends for the regression statistics: numpy, or torch on CPU or CUDA.

Only the heavy, O(N) part of EMMS runs on a backend: standardising the columns,
the products X^T X and X^T Z, and one factorisation. Everything after that is a
K x K problem and runs in numpy float64.
"""

from __future__ import annotations

import contextlib

import numpy as np

# A column counts as constant when its population std is at most this many
# machine epsilons (of the input's precision) times the largest magnitude in
# its whole array. Exact constants and columns that are pure rounding noise of
# the computation that produced the array then become 0 instead of being blown
# up to unit variance. all-MiniLM-L6-v2, for example, emits dead dimensions with
# std around 1e-33 next to entries of order 0.1.
CONSTANT_COLUMN_EPS_FACTOR = 64.0

# Up to this size, numpy factorises small square matrices (Cholesky, eigh) on
# one BLAS thread. On a loaded 2-core machine, a two-thread Cholesky of a
# 1,024 x 1,024 matrix took 3 to 6 times longer than a one-thread one (the
# threads wait for each other), while one thread finishes it in tens of
# milliseconds.
SINGLE_THREAD_FACTORIZATION_MAX_SIZE = 2048


def _import_torch():
    import torch

    return torch


def is_torch_tensor(value) -> bool:
    """Return True when ``value`` is a torch tensor, without importing torch."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


class NumpyBackend:
    """Backend computing in numpy with a fixed floating dtype."""

    name = "numpy"

    def __init__(self, dtype=np.float64):
        self.dtype = np.dtype(dtype)
        self.eps = float(np.finfo(self.dtype).eps)

    def asarray(self, value):
        if is_torch_tensor(value):
            value = value.detach().cpu().numpy()
        # np.asarray may return the caller's array itself; nothing below
        # writes into it, every operation allocates.
        return np.asarray(value, dtype=self.dtype)

    def to_numpy(self, value):
        return np.asarray(value, dtype=np.float64)

    def column_mean(self, x):
        return x.mean(axis=0)

    def column_max_abs(self, x):
        return np.max(np.abs(x), axis=0)

    def max_abs(self, x) -> float:
        """Largest magnitude in ``x``, without allocating a copy."""
        return max(float(x.max()), -float(x.min()))

    def column_dot(self, a, b):
        """Column-wise inner products sum_i a[i, l] b[i, l], shape (L,)."""
        return np.einsum("nl,nl->l", a, b)

    def sqrt(self, x):
        return np.sqrt(x)

    def where(self, condition, a, b):
        return np.where(condition, a, b)

    def concatenate_columns(self, blocks):
        return np.concatenate(blocks, axis=1)

    def zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    def empty(self, shape):
        return np.empty(shape, dtype=self.dtype)

    def subtract(self, a, b, *, out):
        """``a - b`` written into ``out`` (which must not alias ``a``)."""
        return np.subtract(a, b, out=out, dtype=self.dtype, casting="same_kind" if a.dtype == self.dtype else "unsafe")

    def eigh(self, a):
        return np.linalg.eigh(a)

    def svd(self, a):
        return np.linalg.svd(a, full_matrices=False)

    def scalar(self, value) -> float:
        return float(value)


class TorchBackend:
    """Backend computing in torch on one device with a fixed floating dtype."""

    name = "torch"

    def __init__(self, device=None, dtype=None):
        torch = _import_torch()
        self.torch = torch
        if device is None or device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={str(device)!r} was requested but CUDA is not available; "
                "pass device='cpu' or device=None."
            )
        self.dtype = torch.float64 if dtype is None else _torch_dtype(torch, dtype)
        self.eps = float(torch.finfo(self.dtype).eps)

    def asarray(self, value):
        torch = self.torch
        if is_torch_tensor(value):
            return value.detach().to(device=self.device, dtype=self.dtype)
        array = np.asarray(value)
        return torch.as_tensor(array, dtype=self.dtype, device=self.device)

    def to_numpy(self, value):
        return value.detach().to("cpu", self.torch.float64).numpy()

    def column_mean(self, x):
        return x.mean(dim=0)

    def column_max_abs(self, x):
        return x.abs().amax(dim=0)

    def max_abs(self, x) -> float:
        """Largest magnitude in ``x``."""
        return max(float(x.max().item()), -float(x.min().item()))

    def column_dot(self, a, b):
        """Column-wise inner products sum_i a[i, l] b[i, l], shape (L,)."""
        return self.torch.einsum("nl,nl->l", a, b)

    def sqrt(self, x):
        return self.torch.sqrt(x)

    def where(self, condition, a, b):
        torch = self.torch
        return torch.where(condition, torch.as_tensor(a, dtype=self.dtype, device=self.device), b)

    def concatenate_columns(self, blocks):
        return self.torch.cat(blocks, dim=1)

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device)

    def empty(self, shape):
        return self.torch.empty(shape, dtype=self.dtype, device=self.device)

    def subtract(self, a, b, *, out):
        """``a - b`` written into ``out`` (which must not alias ``a``)."""
        return self.torch.sub(a.to(self.dtype), b, out=out)

    def eigh(self, a):
        return self.torch.linalg.eigh(a)

    def svd(self, a):
        return self.torch.linalg.svd(a, full_matrices=False)

    def scalar(self, value) -> float:
        return float(value.item()) if hasattr(value, "item") else float(value)


def _torch_dtype(torch, dtype):
    lookup = {"float64": torch.float64, "float32": torch.float32}
    if isinstance(dtype, str):
        if dtype not in lookup:
            raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}.")
        return lookup[dtype]
    if dtype in (np.float64, torch.float64):
        return torch.float64
    if dtype in (np.float32, torch.float32):
        return torch.float32
    raise ValueError(f"dtype must be float64 or float32, got {dtype!r}.")


def select_backend(device=None, dtype=None, *arrays):
    """Choose the backend for a call.

    ``device=None`` keeps the inputs where they are: numpy inputs use numpy,
    and torch tensors use torch on the first tensor's device. A device string
    ("cpu", "cuda", "cuda:1", "auto") always selects torch on that device.
    """
    if device is None:
        for array in arrays:
            if is_torch_tensor(array):
                return TorchBackend(device=array.device, dtype=dtype)
        if dtype is None:
            return NumpyBackend(np.float64)
        return NumpyBackend(np.dtype(str(dtype).replace("torch.", "")))
    return TorchBackend(device=device, dtype=dtype)


def standardize_columns(backend, x, *, input_eps=None):
    """Return columns with zero mean and unit population std; constant columns become 0.

    A column is constant when its std is at most
    ``CONSTANT_COLUMN_EPS_FACTOR * input_eps * max|x|``, with ``max|x|`` taken
    over the whole array. ``input_eps`` is the machine epsilon of the data
    before any upcast, because float32 data keeps its float32 rounding noise
    after conversion to float64. It defaults to the backend's working precision.
    Never writes into ``x``.
    """
    input_eps = backend.eps if input_eps is None else max(input_eps, backend.eps)
    centred = x - backend.column_mean(x)
    std = backend.sqrt(backend.column_mean(centred * centred))
    scale = backend.scalar(backend.column_max_abs(x).max()) if x.shape[1] else 0.0
    constant = std <= CONSTANT_COLUMN_EPS_FACTOR * input_eps * scale
    safe_std = backend.where(constant, 1.0, std)
    return backend.where(constant, 0.0, centred / safe_std)


def machine_epsilon(value) -> float:
    """Return the machine epsilon of a floating array's dtype, or of float64 for integers."""
    dtype = value.dtype
    if is_torch_tensor(value):
        torch = _import_torch()
        return float(torch.finfo(dtype).eps) if dtype.is_floating_point else float(np.finfo(np.float64).eps)
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype).eps) if dtype.kind == "f" else float(np.finfo(np.float64).eps)


def factorization_threads(backend, size: int):
    """Context that limits numpy's BLAS to one thread for a size x size factorisation.

    Only for the numpy backend and ``size <= SINGLE_THREAD_FACTORIZATION_MAX_SIZE``;
    otherwise, or without threadpoolctl, it changes nothing.
    """
    if backend.name != "numpy" or size > SINGLE_THREAD_FACTORIZATION_MAX_SIZE:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up only
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")
