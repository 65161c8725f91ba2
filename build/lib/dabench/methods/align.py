"""Free composition of registered alignment terms, without a new file.

Config: ``{name: align, terms: {mmd: 1.0, coral: {weight: 0.5}, adversarial: {weight: 1, hidden: 512}}}``.
L = CE(source) + sum_k weight_k * term_k. Term keys are registry names (``dabench list terms``).
"""
from dabench.errors import DabenchError
from dabench.losses.terms import ALIGNMENTS
from dabench.methods.base import METHODS, Method


@METHODS.register("align")
class Align(Method):
    def __init__(self, terms: dict | None = None):
        super().__init__()
        self.term_specs = dict(terms or {})
        for name, spec in self.term_specs.items():
            ALIGNMENTS.check_kwargs(name, {k: v for k, v in spec.items() if k != "weight"} if isinstance(spec, dict) else {})
            if isinstance(spec, dict) and "weight" not in spec:
                raise DabenchError(f"align: term '{name}' needs a 'weight', e.g. {{{name}: {{weight: 1.0}}}}")

    def terms(self):
        built = {}
        for name, spec in self.term_specs.items():
            kwargs = dict(spec) if isinstance(spec, dict) else {"weight": spec}
            weight = float(kwargs.pop("weight"))
            built[name] = (weight, ALIGNMENTS.build({"name": name, **kwargs}))
        return built
