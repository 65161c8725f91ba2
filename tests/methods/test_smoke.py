"""Every method, a few dozen steps on a tiny real pair (embedded MNIST -> UCI optdigits, LeNet; multi-source
and domain generalization methods: Office-Caltech10 SURF amazon + dslr -> webcam, MLP)."""
import math

import pytest

from dabench.methods.base import METHODS
from dabench.run import train

STEPS = 50
# Twice as long where the first steps teach little: FixMatch trains on no target sample until it is confident,
# distillation and LwF split the loss between the labels and a (50-step) teacher.
SLOW_STARTERS = {"fixmatch", "distill", "lwf"}


def smoke_config(name: str) -> dict:
    method = {"name": "align", "terms": {"mmd": 1.0}} if name == "align" else name
    if METHODS.get(name).needs_pretrained_backbone:  # LeNet is trained from scratch: asked for explicitly
        method = {"name": name, "allow_random_backbone": True}
    if name == "mixstyle":  # after LeNet's first conv block (its default names ResNet's layers)
        method = {"name": name, "layers": ["2"]}
    # The shallow SKADA methods fit on fixed features: the raw pixels, not an untrained LeNet's.
    model = ({"backbone": {"name": "mlp", "hidden": []}, "bottleneck_dim": 0} if METHODS.get(name).fitted_in_begin
             else {"backbone": "lenet", "bottleneck_dim": 64})
    # Their kernels grow with the square of the sample count (TCA, KMM): a tenth of the source is enough.
    steps = 2 * STEPS if name in SLOW_STARTERS else STEPS
    val_fraction = 0.9 if METHODS.get(name).fitted_in_begin else 0.1
    # An open-set method needs unknown target classes: digits 0-5 are the known ones.
    known = list(range(6)) if METHODS.get(name).unknown_output else None
    return {"dataset": {"name": "mini_digits", "image_size": 28}, "source": "mnist", "target": "optdigits",
            "method": method, "seed": 0, "target_labeled": 3 if name == "mme" else 0, "val_fraction": val_fraction,
            "source_classes": known,
            "model": model,
            # the validators see 500 of optdigits' 1,437 train images: the accuracy is on the whole test split
            "trainer": {"steps": steps, "batch_size": 32, "eval_every": steps, "log_every": 10, "device": "cpu",
                        "eval_target_samples": 500},
            "optim": {"lr": 0.005 if name == "mme" else 0.02}}


def multi_source_config(name: str) -> dict:
    """A multi-source method needs three domains: Office-Caltech10 SURF, amazon + dslr -> webcam."""
    from dabench.data.base import DATASETS

    if DATASETS.build("office_caltech10_surf").missing_files("webcam"):
        pytest.skip("needs the Office-Caltech10 SURF files under DABENCH_DATA (../shared/data in CI)")
    return {**smoke_config(name), "dataset": "office_caltech10_surf", "source": ["amazon", "dslr"], "target": "webcam",
            "model": {"backbone": {"name": "mlp", "hidden": [256]}, "bottleneck_dim": 64},
            "unseen_target": not METHODS.get(name).uses_target}  # domain generalization methods


@pytest.mark.parametrize("name", METHODS.names())
def test_a_few_dozen_steps_on_real_digits_are_finite_and_beat_chance(name, tmp_path):
    cfg = multi_source_config(name) if METHODS.get(name).needs_several_sources else smoke_config(name)
    result = train(cfg, tmp_path)
    assert result["final_losses"] and all(math.isfinite(v) for v in result["final_losses"].values())
    if METHODS.get(name).unknown_output:  # open-set: known-class accuracy over 6 known classes
        assert result["records"][-1]["target_test_os_star"] > 30.0
    else:
        assert result["target_accuracy"] > 20.0  # 10 classes: chance is 10 %
