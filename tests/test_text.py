"""Text end to end: MiniLM token inputs from the Amazon reviews, the minilm backbone (frozen: the
sentence-transformers embedding; fine-tuned: only its last layers learn)."""
import numpy as np
import pytest
import torch

from dabench.data.base import DATASETS
from dabench.methods.base import METHODS
from dabench.models.backbones import BACKBONES

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def books_tokens():
    from conftest import real_data_root

    data_root = real_data_root()
    if data_root is None:
        pytest.skip("real datasets absent: set DABENCH_DATA to the shared data layout (CI uses ../shared/data)")
    dataset = DATASETS.build({"name": "amazon_reviews", "features": "tokens", "max_length": 256}, root=data_root)
    return dataset.load("books", "train").tensors


def test_tokens_are_ids_and_mask_of_each_review(data_root, books_tokens):
    from dabench.models.text import minilm_tokenizer

    x, y = books_tokens
    assert x.shape == (2000, 2, 256) and x.dtype == torch.float32 and y.tolist() == [1] * 1000 + [0] * 1000
    ids, mask = x[:, 0].long(), x[:, 1]
    assert set(mask.unique().tolist()) == {0.0, 1.0} and (ids[:, 0] == 101).all()  # [CLS] first
    assert torch.equal(ids == 0, mask == 0)  # padding, and only padding, is masked
    texts, _ = DATASETS.build("amazon_reviews", root=data_root).texts("books")
    words = minilm_tokenizer().decode(ids[3][mask[3] == 1], skip_special_tokens=True)
    assert words.split()[:5] == texts[3].lower().split()[:5]


def test_the_frozen_backbone_gives_the_sentence_transformers_embedding(data_root, books_tokens):
    z = np.load(data_root / "amazon_reviews_mds" / "minilm_l6_v2_embeddings.npz")
    shipped = z["X"][z["domain"] == "books"]
    x, _ = books_tokens
    short = [i for i in range(40) if x[i, 1].sum() < 256][:6]  # untruncated: the reference used 256 tokens too
    backbone = BACKBONES.build({"name": "minilm", "trainable_layers": 0}, input_shape=(2, 256)).eval()
    with torch.no_grad():
        features = backbone(x[short]).numpy()
    assert features.shape == (len(short), 384)
    assert np.allclose((features * shipped[short]).sum(1), 1.0, atol=1e-4)


def test_only_the_last_layers_learn_and_the_frozen_ones_keep_eval_mode():
    backbone = BACKBONES.build({"name": "minilm", "trainable_layers": 2}, input_shape=(2, 16)).train()
    transformer = backbone[0].transformer
    trainable = {name.split(".")[2] for name, p in transformer.named_parameters() if p.requires_grad}
    assert trainable == {"4", "5"}  # encoder.layer.4 and .5 of 6
    assert not transformer.embeddings.training and not transformer.encoder.layer[3].training
    assert transformer.encoder.layer[5].training


def test_a_wrong_input_or_layer_count_is_named():
    from dabench.errors import DabenchError

    with pytest.raises(DabenchError, match=r"backbone 'minilm' expects token ids and mask \(2, max_length\)"):
        BACKBONES.build("minilm", input_shape=(384,))
    with pytest.raises(DabenchError, match=r"trainable_layers=7, it has 6 layers"):
        BACKBONES.build({"name": "minilm", "trainable_layers": 7}, input_shape=(2, 16))


def text_config(method: str, features: dict, backbone: dict) -> dict:
    from dabench.config import resolve
    from dabench.testing import method_sections

    sections = method_sections(method, sources=["books", "dvd"], known_classes=[1])  # negative is then unknown
    # The shallow methods' kernels grow with the cube of the sample count (TCA): a fifth of the source is enough.
    val_fraction = 0.8 if METHODS.get(method).fitted_in_begin else 0.1
    return resolve({"dataset": {"name": "amazon_reviews", **features}, "source": "books", "target": "kitchen",
                    **sections, "model": {"backbone": backbone, "bottleneck_dim": 16}, "val_fraction": val_fraction,
                    "trainer": {"steps": 24, "batch_size": 8, "eval_every": 24, "log_every": 8, "device": "cpu"}})


def finite_run(cfg: dict, out) -> None:
    import math

    from dabench.run import train

    result = train(cfg, out)
    assert result["final_losses"] and all(math.isfinite(v) for v in result["final_losses"].values())


@pytest.mark.parametrize("method", [m for m in METHODS.names() if m != "fixmatch"])
def test_every_method_runs_on_text_features_and_stays_finite(method, data_root, tmp_path):
    """TF-IDF review features and an MLP, books -> kitchen, a couple dozen steps."""
    finite_run(text_config(method, {"features": "tfidf", "max_features": 300}, {"name": "mlp", "hidden": [32]}),
               tmp_path)


def test_minilm_fine_tunes_end_to_end_and_stays_finite(data_root, tmp_path):
    """MiniLM's last layer fine-tuned on review tokens (the end-to-end text path), as in the fine-tuned
    table, with DANN (its classification and adversarial terms both reach the encoder), on each review's first 8
    tokens: about 16 s on one CPU thread, half of it loading transformers and scoring the 2,200 reviews once, so the
    other methods are run on the TF-IDF features."""
    finite_run(text_config("dann", {"features": "tokens", "max_length": 8}, {"name": "minilm", "trainable_layers": 1}),
               tmp_path)


def test_fixmatch_refuses_text_with_the_reason(data_root, tmp_path):
    from dabench.errors import DabenchError

    cfg = text_config("fixmatch", {"features": "tfidf", "max_features": 300}, {"name": "mlp", "hidden": [32]})
    with pytest.raises(DabenchError, match=r"fixmatch augments images \(C, H, W\) or waveforms \(1, samples\)"):
        finite_run(cfg, tmp_path)
