"""Pooling of token states into one vector per text."""

from __future__ import annotations

import torch


def masked_mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token states over the positions that the attention mask marks as real tokens.

    The official EMMS code averages over padding positions too, so a text's
    embedding there depends on the longest text in its batch. Here padding
    positions get zero weight, so the result for one text does not depend on
    the other texts of the batch.

    Parameters
    ----------
    hidden : torch.Tensor
        Token states of shape ``(batch, tokens, width)``, any floating dtype.
    attention_mask : torch.Tensor
        Shape ``(batch, tokens)``, nonzero (1 or True) for real tokens and 0
        for padding, as returned by Hugging Face tokenizers.

    Returns
    -------
    torch.Tensor
        Shape ``(batch, width)``. The dtype is float32, or float64 if
        ``hidden`` is float64. Half-precision input is averaged in float32 to
        avoid overflow in the sum.

    Raises
    ------
    ValueError
        If the shapes do not match, or a row of ``attention_mask`` has no real
        token, because the mean of zero tokens is undefined.
    """
    if hidden.ndim != 3:
        raise ValueError(f"hidden must have shape (batch, tokens, width), got {tuple(hidden.shape)}")
    if tuple(attention_mask.shape) != tuple(hidden.shape[:2]):
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} does not match the first two "
            f"dimensions of hidden {tuple(hidden.shape[:2])}"
        )

    dtype = torch.promote_types(hidden.dtype, torch.float32)
    is_token = attention_mask.to(device=hidden.device).bool().unsqueeze(-1)
    token_counts = is_token.sum(dim=1).to(dtype)
    empty_rows = (token_counts.squeeze(-1) == 0).nonzero().flatten().tolist()
    if empty_rows:
        raise ValueError(f"attention_mask rows {empty_rows} contain no real token; cannot average zero tokens")

    # masked_fill rather than multiplying by the mask, so that NaN or inf in
    # padding positions cannot leak into the sum (NaN * 0 is NaN).
    summed = hidden.to(dtype).masked_fill(~is_token, 0.0).sum(dim=1)
    return summed / token_counts
