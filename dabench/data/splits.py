"""Held-out test splits for domains whose papers define none, saved as split files.

A split file lists the ids of a domain's test samples (sample indices, or image paths
relative to the dataset folder), one per line, after a header that says how it was made.
The files for the standard settings ship in ``dabench/splits/<dataset>/`` so every user
trains and tests on the same samples; any other (fraction, seed) is drawn the same way
(stratified by class, scikit-learn's ``train_test_split``) and saved under
``$DABENCH_CACHE/splits/`` on first use (never in the data root, which may be read-only); a
file placed under ``<data root>/splits/<dataset>/`` is read first, to share a split.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dabench.data.base import cache_dir, make_cache_folder
from dabench.errors import DabenchError

SHIPPED = Path(__file__).resolve().parent.parent / "splits"


def split_file_name(domain: str, test_fraction: float, seed: int) -> str:
    return f"{domain}-test{round(test_fraction * 100)}-seed{seed}.txt"


def test_mask(folders: list[Path], domain: str, ids: list[str], labels: np.ndarray, test_fraction: float,
              seed: int) -> np.ndarray:
    """Boolean (n,) mask of the test samples of `domain`, from its split file in the first of
    `folders` that has one; drawn and saved in the last folder when none has."""
    name = split_file_name(domain, test_fraction, seed)
    path = next((folder / name for folder in folders if (folder / name).is_file()), None)
    if path is None:
        path = folders[-1] / name
        write_split(path, ids, labels, test_fraction, seed)
    test_ids = {line for line in path.read_text().splitlines() if line and not line.startswith("#")}
    unknown = test_ids - set(ids)
    if unknown:
        raise DabenchError(f"split file {path} lists {len(unknown)} samples that domain {domain} does not have "
                           f"(e.g. {sorted(unknown)[0]}); the data is another release, or delete the file to redraw it")
    return np.array([i in test_ids for i in ids])


def write_split(path: Path, ids: list[str], labels: np.ndarray, test_fraction: float, seed: int) -> None:
    from sklearn.model_selection import train_test_split

    _, test = train_test_split(np.arange(len(ids)), test_size=test_fraction, stratify=labels, random_state=seed)
    header = f"# test split: {test_fraction:g} of the samples, stratified by class, sklearn train_test_split seed {seed}"
    make_cache_folder(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join([header, *(ids[i] for i in sorted(test))]) + "\n")
    os.replace(tmp, path)


def split_folders(dataset) -> list[Path]:
    """Where `dataset`'s split files are looked for, in order (its own ``split_folders`` where it declares
    them): shipped with dabench, placed under the data root, drawn earlier in the cache, where new ones go."""
    own = getattr(dataset, "split_folders", None)
    return own or [SHIPPED / dataset.name, dataset.root / "splits" / dataset.name, cache_dir() / "splits" / dataset.name]


def drawn_indices(folders: list[Path], name: str, n: int, draw, header: str):
    """The sorted (k,) int64 tensor of indices into a split of `n` samples listed in split file `name` (the first of
    `folders` that has one), or drawn by `draw()` and saved in the last folder, after `header`."""
    import torch

    path = next((folder / name for folder in folders if (folder / name).is_file()), None)
    if path is None:
        indices = draw()
        path = folders[-1] / name
        make_cache_folder(path.parent)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join([header, *map(str, indices.tolist())]) + "\n")
        os.replace(tmp, path)
        return indices
    try:
        indices = [int(line) for line in path.read_text().splitlines() if line and not line.startswith("#")]
    except ValueError:
        raise DabenchError(f"split file {path} holds a line that is not a sample index; delete it to redraw it") from None
    if not indices or max(indices) >= n or min(indices) < 0:
        raise DabenchError(f"split file {path} lists indices outside the {n} samples of its split; the data is "
                           f"another release, or delete the file to redraw it")
    return torch.tensor(sorted(indices), dtype=torch.int64)
