"""F-labels of classification datasets, built from class names."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emms_ref._validation import check_class_indices as validate_labels
from emms_ref.labels.cache import EmbeddingCache, encode_cached
from emms_ref.labels.encoders import TextEncoder, validate_texts

def class_name_texts(class_names: Sequence[str], templates: Sequence[str] | None = None) -> list[str]:
    """Turn class names into the texts that a text encoder reads.

    Underscores become spaces (``"apple_pie"`` becomes ``"apple pie"``).
    The official EMMS code passes the raw names, underscores included.

    Parameters
    ----------
    class_names : sequence of str
        The C class names, in label-index order.
    templates : sequence of str, optional
        Prompt templates with one ``{}`` placeholder, for example
        ``["a photo of a {}."]``. Without templates each name is used as is.

    Returns
    -------
    list of str
        ``C`` texts without templates, or ``C * T`` texts with ``T``
        templates, ordered class by class: all templates of class 0, then all
        templates of class 1, and so on.

    Raises
    ------
    TypeError
        If ``class_names`` or ``templates`` is a bare string or contains a
        non-string.
    ValueError
        If ``class_names`` or ``templates`` is empty, or a template has no
        ``{}`` placeholder or cannot be formatted with one argument.
    """
    names = validate_texts(class_names, "class_names")
    if not names:
        raise ValueError("class_names is empty; pass one name per class")
    readable_names = [name.replace("_", " ") for name in names]
    if templates is None:
        return readable_names

    template_list = validate_texts(templates, "templates")
    if not template_list:
        raise ValueError("templates is empty; pass None to use the class names without templates")
    for template in template_list:
        _check_template(template)
    return [template.format(name) for name in readable_names for template in template_list]


def encode_class_names(
    class_names: Sequence[str],
    encoder: TextEncoder,
    *,
    templates: Sequence[str] | None = None,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """Encode each class name once, averaging over templates.

    Parameters
    ----------
    class_names : sequence of str
        The C class names, in label-index order.
    encoder : TextEncoder
        Text encoder of width ``L = encoder.dim``.
    templates : sequence of str, optional
        Prompt templates, see :func:`class_name_texts`. With several
        templates a class embedding is the plain mean of its template
        embeddings, without normalising them first.
    cache : EmbeddingCache, optional
        Cache for the template texts, see
        :func:`~emms_ref.labels.encode_cached`.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(C, L)``.
    """
    texts = class_name_texts(class_names, templates)
    embeddings = encode_cached(encoder, texts, cache)
    templates_per_class = len(texts) // len(class_names)
    return embeddings.reshape(len(class_names), templates_per_class, encoder.dim).mean(axis=1, dtype=np.float32)


def class_flabels(
    labels: np.ndarray | Sequence[int],
    class_names: Sequence[str],
    encoder: TextEncoder,
    *,
    templates: Sequence[str] | None = None,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """Build the F-labels of a classification dataset: one class-name embedding per sample.

    The C class names are encoded once (:func:`encode_class_names`), and row
    ``i`` of the result is the embedding of class ``labels[i]``.

    Parameters
    ----------
    labels : array_like of int
        Shape ``(N,)``, class indices in ``0 .. C-1``.
    class_names : sequence of str
        The C class names, in label-index order.
    encoder : TextEncoder
        Text encoder of width ``L = encoder.dim``.
    templates : sequence of str, optional
        Prompt templates, see :func:`class_name_texts`.
    cache : EmbeddingCache, optional
        Cache for the class-name texts.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(N, L)``, a new array (``labels`` is not
        modified).

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, has a non-integer dtype, or has values
        outside ``0 .. C-1``.
    """
    names = validate_texts(class_names, "class_names")
    label_array = validate_labels(labels, len(names))
    class_embeddings = encode_class_names(names, encoder, templates=templates, cache=cache)
    return class_embeddings[label_array]


def flabels_for_encoders(
    labels: np.ndarray | Sequence[int],
    class_names: Sequence[str],
    encoders: Sequence[TextEncoder],
    *,
    templates: Sequence[str] | None = None,
    cache: EmbeddingCache | None = None,
) -> list[np.ndarray]:
    """Build class-name F-labels with several encoders, as EMMS does with CLIP, BERT and GPT-2.

    Parameters
    ----------
    labels, class_names, templates, cache
        As in :func:`class_flabels`.
    encoders : sequence of TextEncoder
        One or more encoders. Their widths may differ.

    Returns
    -------
    list of numpy.ndarray
        One float32 array of shape ``(N, encoders[k].dim)`` per encoder, in
        the order of ``encoders``.

    Raises
    ------
    ValueError
        If ``encoders`` is empty, or as in :func:`class_flabels`.
    """
    encoder_list = list(encoders)
    if not encoder_list:
        raise ValueError("encoders is empty; pass at least one TextEncoder")
    names = validate_texts(class_names, "class_names")
    label_array = validate_labels(labels, len(names))
    return [class_flabels(label_array, names, encoder, templates=templates, cache=cache) for encoder in encoder_list]


def _check_template(template: str) -> None:
    """Raise ValueError unless ``template`` formats one class name through a ``{}`` placeholder."""
    try:
        formatted = template.format("\0")
    except (IndexError, KeyError, ValueError) as error:
        raise ValueError(
            f"template {template!r} cannot be formatted with one class name ({error}); "
            "use a single {} placeholder and write literal braces as {{ and }}"
        ) from error
    if "\0" not in formatted:
        raise ValueError(f"template {template!r} has no {{}} placeholder; add one where the class name goes")
