"""Datasets (one registered file each), the data root, verified files and the transfer data module."""
