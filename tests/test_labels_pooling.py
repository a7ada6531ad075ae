"""Tests of masked mean pooling."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emms_ref.labels import masked_mean_pool


def test_pool_matches_manual_mean():
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 4, 3, generator=generator)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])

    pooled = masked_mean_pool(hidden, mask)

    assert pooled.shape == (2, 3)
    torch.testing.assert_close(pooled[0], hidden[0, :2].mean(dim=0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(dim=0))


def test_pool_ignores_padding_values():
    hidden = torch.ones(1, 3, 2)
    hidden[0, 2] = torch.tensor([float("nan"), float("inf")])
    mask = torch.tensor([[1, 1, 0]])

    pooled = masked_mean_pool(hidden, mask)

    torch.testing.assert_close(pooled, torch.ones(1, 2))


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4),
    extra_padding=st.integers(min_value=0, max_value=5),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_pool_independent_of_padding(lengths, extra_padding, seed):
    generator = torch.Generator().manual_seed(seed)
    tokens = max(lengths) + extra_padding
    hidden = torch.randn(len(lengths), tokens, 3, generator=generator)
    mask = torch.zeros(len(lengths), tokens, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1

    pooled = masked_mean_pool(hidden, mask)

    for row, length in enumerate(lengths):
        alone = masked_mean_pool(hidden[row : row + 1, :length], mask[row : row + 1, :length])
        torch.testing.assert_close(pooled[row : row + 1], alone)


def test_pool_accepts_bool_mask():
    hidden = torch.arange(6, dtype=torch.float32).reshape(1, 3, 2)
    mask = torch.tensor([[True, False, True]])

    pooled = masked_mean_pool(hidden, mask)

    torch.testing.assert_close(pooled, torch.tensor([[2.0, 3.0]]))


def test_pool_half_input_returns_float32():
    hidden = torch.full((1, 2, 2), 60000.0, dtype=torch.float16)
    mask = torch.ones(1, 2, dtype=torch.long)

    pooled = masked_mean_pool(hidden, mask)

    # The sum 120000 overflows float16, so this checks float32 accumulation.
    assert pooled.dtype == torch.float32
    torch.testing.assert_close(pooled, torch.full((1, 2), 60000.0))


def test_pool_keeps_float64():
    hidden = torch.zeros(1, 2, 2, dtype=torch.float64)
    mask = torch.ones(1, 2)

    assert masked_mean_pool(hidden, mask).dtype == torch.float64


def test_pool_does_not_modify_inputs():
    hidden = torch.randn(2, 3, 4)
    mask = torch.tensor([[1, 0, 0], [1, 1, 0]])
    hidden_before = hidden.clone()
    mask_before = mask.clone()

    masked_mean_pool(hidden, mask)

    assert torch.equal(hidden, hidden_before)
    assert torch.equal(mask, mask_before)


def test_pool_rejects_row_without_tokens():
    hidden = torch.zeros(2, 3, 4)
    mask = torch.tensor([[1, 0, 0], [0, 0, 0]])

    with pytest.raises(ValueError, match=r"rows \[1\]"):
        masked_mean_pool(hidden, mask)


@pytest.mark.parametrize(
    ("hidden_shape", "mask_shape"),
    [((2, 3), (2, 3)), ((2, 3, 4), (2, 4)), ((2, 3, 4), (3, 3))],
)
def test_pool_rejects_bad_shapes(hidden_shape, mask_shape):
    with pytest.raises(ValueError, match="shape"):
        masked_mean_pool(torch.zeros(hidden_shape), torch.ones(mask_shape))
