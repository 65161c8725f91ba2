"""benchmarks/rotta_memory.py: its record of RoTTA's memory bank, checked on a bank fed by hand (no stream)."""
import torch

from dabench.stream.methods import rotta


def test_the_bank_record_counts_the_current_domain_the_entrants_and_the_top_pseudo_label(monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[1] / "benchmarks"))
    monkeypatch.setattr(rotta.MemoryBank, "add", rotta.MemoryBank.add)  # undone after the test
    from rotta_memory import record_bank

    log = []
    record_bank(log, per_domain=64)
    bank = rotta.MemoryBank(size=8, num_classes=2)
    for i in range(64):  # domain 0: confident samples of both classes
        bank.add(torch.zeros(1), i % 2, 0.0)
    for _ in range(32):  # domain 1: confident samples, all given class 0, each evicting an older one
        bank.add(torch.ones(1), 0, 0.0)
    for _ in range(32):  # then uncertain ones: they score above every member and stay out
        bank.add(torch.ones(1), 0, 0.69)
    first, second = log
    assert first == {"arrivals": 64, "domain": 0, "current_share": 1.0, "accepted_share": 1.0, "top_label_share": 0.5}
    # Class 0's half of the bank is domain 1's; class 1 keeps domain 0's samples.
    assert second == {"arrivals": 128, "domain": 1, "current_share": 0.5, "accepted_share": 0.5, "top_label_share": 1.0}
