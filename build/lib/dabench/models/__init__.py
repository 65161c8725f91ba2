"""Backbones (feature extractors) and the Model = backbone -> bottleneck -> classifier."""
