"""Small helpers for code that runs on the numpy or the torch backend of :mod:`emms_ref.solver.backend`."""

from __future__ import annotations

import numpy as np


def backend_index(backend, indices):
    """Return integer ``indices`` (a numpy array) in a form that indexes the backend's arrays."""
    if backend.name == "torch":
        torch = backend.torch
        return torch.as_tensor(indices, dtype=torch.long, device=backend.device)
    return indices


def backend_label(backend) -> str:
    """Name where a computation ran: ``"numpy"`` or ``"torch:<device>"``."""
    return backend.name if backend.name == "numpy" else f"torch:{backend.device}"


def symmetric_eigenvalues(backend, matrix):
    """Return the eigenvalues of a symmetric backend matrix, ascending, without eigenvectors."""
    if backend.name == "torch":
        return backend.torch.linalg.eigvalsh(matrix)
    return np.linalg.eigvalsh(matrix)
