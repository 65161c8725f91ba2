"""Shallow domain adaptation with SKADA's scikit-learn estimators (Gnassounou et al., skada 0.6).

Each method here is a SKADA adapter between a StandardScaler and a logistic-regression classifier
(``skada.make_da_pipeline``), fitted once in ``begin`` on the backbone's features of the whole
labeled source train split and the whole unlabeled target train split; no weight is trained by
SGD, so run them with ``trainer.steps: 1``. The backbone gives the features: the identity on
feature datasets (``model: {backbone: {name: mlp, hidden: []}, bottleneck_dim: 0}``), a frozen
pretrained network on images.

- shallow_source_only: no adapter, the baseline of the others.
- shallow_coral: CORAL, Sun, Feng & Saenko, AAAI 2016 (source covariance recoloured to the target's).
- subspace_alignment: Fernando et al., ICCV 2013.
- tca: Transfer Component Analysis, Pan et al., IEEE TNN 2011.
- ot_mapping: optimal-transport mapping, Courty et al., IEEE TPAMI 2017 (exact OT through POT).
- kmm: kernel mean matching importance weights, Huang et al., NeurIPS 2006.

Limitation: SKADA transforms a sample by its domain, and the evaluator does not say which domain a
batch comes from, so every evaluated sample is transformed as a target sample; ``source_val_acc``
of these methods is therefore measured after the target transform.
"""
from __future__ import annotations

import numpy as np
import torch

from dabench.data.files import chunks
from dabench.methods.base import METHODS, Method
from dabench.types import Outputs


class SkadaMethod(Method):
    """Base: subclasses give ``adapter()``, a SKADA adapter (None: no adaptation); L is empty (nothing to train)."""

    fitted_in_begin = True

    def adapter(self, max_components: int):
        """The SKADA adapter, or None; `max_components` bounds a subspace's dimension (samples, features)."""
        return None

    def classifier(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)

    def build(self, model, num_classes, steps):
        super().build(model, num_classes, steps)
        self.num_classes = num_classes
        self.freeze(model)

    @torch.no_grad()
    def _features(self, x) -> np.ndarray:
        return torch.cat([self.model.backbone(chunk) for chunk in chunks(x, 1024)]).float().cpu().numpy()

    def begin(self, source, target_inputs):
        import sklearn
        from skada import make_da_pipeline
        from sklearn.preprocessing import StandardScaler

        x_s, x_t = self._features(source.x), self._features(target_inputs)
        # SKADA's convention: sample_domain > 0 source, < 0 target; target labels are -1 (masked).
        y = np.concatenate([source.y.cpu().numpy(), -np.ones(len(x_t), dtype=np.int64)])
        domain = np.concatenate([np.ones(len(x_s), dtype=np.int64), -np.ones(len(x_t), dtype=np.int64)])
        adapter = self.adapter(min(len(x_s), len(x_t), x_s.shape[1]))
        self.pipeline = make_da_pipeline(StandardScaler(), *([adapter] if adapter else []), self.classifier())
        with sklearn.config_context(enable_metadata_routing=True):  # reweighting adapters pass sample_weight
            self.pipeline.fit(np.concatenate([x_s, x_t]), y, sample_domain=domain)

    def updates(self, s, t, progress, t_labeled=None):
        return iter(())

    def outputs(self, x):
        features = self.model.backbone(x)
        domain = -np.ones(len(x), dtype=np.int64)
        proba = self.pipeline.predict_proba(features.float().cpu().numpy(), sample_domain=domain)
        full = np.full((len(x), self.num_classes), 1e-12)
        classes = self.pipeline.steps[-1][1].base_estimator_.classes_
        full[:, classes] = np.maximum(proba, 1e-12)  # a class absent from the source stays ~0
        return Outputs(features, torch.from_numpy(np.log(full)).float().to(x.device))


@METHODS.register("shallow_source_only")
class ShallowSourceOnly(SkadaMethod):
    """The shallow methods' baseline: the same scaler and classifier on the source alone."""


@METHODS.register("shallow_coral")
class ShallowCORAL(SkadaMethod):
    def __init__(self, reg: float | None = None):
        super().__init__()
        self.reg = reg  # None: SKADA's "auto" (Ledoit-Wolf shrinkage)

    def adapter(self, max_components):
        from skada import CORALAdapter

        return CORALAdapter(reg="auto" if self.reg is None else self.reg)


@METHODS.register("subspace_alignment")
class SubspaceAlignment(SkadaMethod):
    def __init__(self, n_components: int = 100):
        super().__init__()
        self.n_components = n_components

    def adapter(self, max_components):
        from skada import SubspaceAlignmentAdapter

        return SubspaceAlignmentAdapter(n_components=min(self.n_components, max_components), random_state=0)


@METHODS.register("tca")
class TCA(SkadaMethod):
    def __init__(self, n_components: int = 100, mu: float = 0.1):
        super().__init__()
        self.n_components, self.mu = n_components, mu

    def adapter(self, max_components):
        from skada import TransferComponentAnalysisAdapter

        return TransferComponentAnalysisAdapter(kernel="rbf", n_components=min(self.n_components, max_components),
                                                mu=self.mu)


@METHODS.register("ot_mapping")
class OTMapping(SkadaMethod):
    def adapter(self, max_components):
        from skada import OTMappingAdapter

        return OTMappingAdapter()


@METHODS.register("kmm")
class KMM(SkadaMethod):
    def __init__(self, bound: float = 1000.0):
        super().__init__()
        self.bound = bound  # B, the largest weight

    def adapter(self, max_components):
        from skada import KMMReweightAdapter

        return KMMReweightAdapter(B=self.bound)

    def classifier(self):
        import sklearn

        with sklearn.config_context(enable_metadata_routing=True):
            return super().classifier().set_fit_request(sample_weight=True)
