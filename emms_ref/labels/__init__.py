"""F-labels: label embeddings from text foundation models.

EMMS turns labels of any format into F-labels by encoding their text with
foundation models (CLIP text tower, BERT, GPT-2). This package contains the text
encoders, their loaders, the class-name F-labels of classification datasets
and an on-disk embedding cache. Importing it loads neither ``transformers``,
``open_clip`` nor ``onnxruntime``; the loaders import them when called.
"""

from emms_ref.labels.cache import EmbeddingCache, encode_cached
from emms_ref.labels.class_names import (
    class_flabels,
    class_name_texts,
    encode_class_names,
    flabels_for_encoders,
    validate_labels,
)
from emms_ref.labels.encoders import TextEncoder
from emms_ref.labels.hf_encoder import HFTextEncoder
from emms_ref.labels.loaders import (
    load_bert,
    load_clip_text,
    load_gpt2,
    load_minilm,
    load_paraphrase_minilm_onnx,
)
from emms_ref.labels.onnx_encoder import ONNXTextEncoder
from emms_ref.labels.open_clip_encoder import OpenCLIPTextEncoder
from emms_ref.labels.pooling import masked_mean_pool

__all__ = [
    "EmbeddingCache",
    "HFTextEncoder",
    "ONNXTextEncoder",
    "OpenCLIPTextEncoder",
    "TextEncoder",
    "class_flabels",
    "class_name_texts",
    "encode_cached",
    "encode_class_names",
    "flabels_for_encoders",
    "load_bert",
    "load_clip_text",
    "load_gpt2",
    "load_minilm",
    "load_paraphrase_minilm_onnx",
    "masked_mean_pool",
    "validate_labels",
]
