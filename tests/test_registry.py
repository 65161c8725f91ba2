import pytest

from dabench.errors import DabenchError
from dabench.methods.base import METHODS
from dabench.registry import Registry


def test_duplicate_name_raises_naming_both_modules():
    registry = Registry("thing", "dabench.methods")
    registry.register("a")(type("A", (), {}))
    with pytest.raises(DabenchError, match="registered twice"):
        registry.register("a")(type("B", (), {}))


def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(DabenchError) as err:
        METHODS.get("dan_")
    message = str(err.value)
    assert "known: adabn, adda, afn, align, bi_tuning, bnm" in message and "did you mean 'dan'?" in message
    assert "\n" not in message


def test_unknown_parameter_lists_accepted_and_suggests():
    with pytest.raises(DabenchError, match=r"unknown parameter 'tradeoff'; accepted: trade_off, hidden, gamma"
                                           r" \(did you mean|; did you mean 'trade_off'"):
        METHODS.build({"name": "dann", "tradeoff": 1.0})


def test_build_passes_kwargs_verbatim():
    method = METHODS.build({"name": "dann", "trade_off": 0.3, "hidden": 64})
    assert (method.trade_off, method.hidden, method.gamma) == (0.3, 64, 10.0)
    assert METHODS.parameters("dan") == {"trade_off": 1.0, "kernel_mul": 2.0, "num_kernels": 5, "estimator": "biased"}


def test_issue_method_names_are_registered():
    assert {"source_only", "dan", "dann", "deep_coral", "entropy"} <= set(METHODS.names())
