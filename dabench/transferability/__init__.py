"""Transferability scores: which pretrained model will fine-tune best on a labeled target task, from one
forward pass each and no training (``dabench rank``). Scores live in scores.py, registered in SCORES;
rank.py turns candidates (runs, backbones) into features and logits and ranks them."""
from dabench.registry import Registry

SCORES = Registry("transferability score", "dabench.transferability")
