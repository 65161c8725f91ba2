"""Adaptation methods, one registered file each (see base.Method)."""
