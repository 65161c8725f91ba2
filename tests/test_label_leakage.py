"""A probe method tries to read target labels from everything it is handed: the object given to
``begin()`` (its attributes, containers and closures, searched for file paths and class folder
names) and the ``idx`` of its target batches (the dataset's own order is sorted by class)."""
import pytest
import torch

from dabench.data.files import chunks
from dabench.log import Loggers
from dabench.methods.base import METHODS, Method
from dabench.run import build
from dabench.testing import folder_config, make_folder_domains, toy_config

CLASSES = ("cat", "dog", "fox")


def reachable_strings(obj, depth: int = 6, seen=None) -> list[str]:
    """Every string reachable from `obj` through attributes, containers, closures and defaults."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth < 0:
        return []
    seen.add(id(obj))
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, torch.Tensor):
        return []
    children = []
    if isinstance(obj, dict):
        children = [*obj.keys(), *obj.values()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = list(obj)
    else:
        children = list(getattr(obj, "__dict__", {}).values())
        children += [getattr(obj, name) for name in getattr(type(obj), "__slots__", ()) if hasattr(obj, name)]
        children += [cell.cell_contents for cell in getattr(obj, "__closure__", None) or ()]
    return [s for child in children for s in reachable_strings(child, depth - 1, seen)]


@pytest.fixture
def probe():
    """A method that records what it is handed; registered for the test only."""
    seen = {}

    @METHODS.register("test_probe")
    class Probe(Method):
        def begin(self, source, target_inputs):
            seen["strings"] = reachable_strings(target_inputs)
            seen["decoded"] = torch.cat(list(chunks(target_inputs, 7)))
            seen["idx"] = []

        def loss(self, s, t, progress):
            seen["idx"].append(t.idx.clone())
            return super().loss(s, t, progress)

    yield seen
    del METHODS._entries["test_probe"]


def test_image_paths_and_class_folders_never_reach_a_method(probe, tmp_path):
    root = make_folder_domains(tmp_path / "domains")
    cfg = folder_config(root, method="test_probe", steps=3)
    trainer, _, data, method = build(cfg)
    assert any(c in p for p in data.target_train.paths for c in CLASSES)  # the trainer's view has them
    trainer.fit(method, data, tmp_path / "run", Loggers(), seed=0)
    assert not any(str(root) in s or c in s for s in probe["strings"] for c in CLASSES)
    # What it may see: the decoded images, position p holding the sample that batches call idx == p.
    labels_by_position = torch.empty(len(data.target_train), dtype=torch.long)
    _, labels = data_labels(cfg)
    labels_by_position[data.target_positions] = labels
    assert labels.tolist() == sorted(labels.tolist())  # the dataset's own order is sorted by class...
    assert labels_by_position.tolist() != sorted(labels_by_position.tolist())  # ...the method's is not
    for idx in probe["idx"]:
        assert torch.equal(probe["decoded"][idx], data.target_train[data.target_positions.argsort()[idx]])


def test_tensor_datasets_hand_methods_a_shuffled_copy_with_matching_idx(probe, tmp_path):
    cfg = toy_config("test_probe", trainer={"steps": 2, "eval_every": 2})
    trainer, _, data, method = build(cfg)
    trainer.fit(method, data, tmp_path / "run", Loggers(), seed=0)
    inverse = data.target_positions.argsort()
    assert torch.equal(probe["decoded"], data.target_train[inverse])
    for idx in probe["idx"]:
        assert torch.equal(probe["decoded"][idx], data.target_train[inverse[idx]])
    assert not torch.equal(data.target_positions, torch.arange(len(data.target_positions)))


def test_hidden_images_cannot_be_pickled(tmp_path):
    import pickle

    from dabench.data.files import HiddenImages

    root = make_folder_domains(tmp_path / "domains", per_class=1)
    _, _, data, _ = build(folder_config(root, method="source_only"))
    assert isinstance(data.target_inputs, HiddenImages) and len(data.target_inputs) == 3
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(data.target_inputs)


def data_labels(cfg):
    from dabench.data.base import DATASETS

    return DATASETS.build(cfg["dataset"]).load(cfg["target"], "train").tensors


def test_partial_target_hands_methods_only_unlabeled_kept_samples(probe, tmp_path):
    """The data module reads target labels to build the partial target; the method never sees one."""
    cfg = toy_config("test_probe", target_classes=[0, 2], trainer={"steps": 2, "eval_every": 2})
    trainer, _, data, method = build(cfg)
    trainer.fit(method, data, tmp_path / "run", Loggers(), seed=0)
    assert len(probe["decoded"]) == len(data.target_train) == 200
    assert torch.equal(probe["decoded"], data.target_train[data.target_positions.argsort()])


def test_open_set_target_hands_methods_no_label_and_source_batches_only_known_ones(probe, tmp_path):
    """Open-set DA: the data module relabels the classes the source lacks as unknown; methods see
    unlabeled target inputs, and source labels of the known classes only."""
    cfg = toy_config("test_probe", source_classes=[0, 2], trainer={"steps": 4, "eval_every": 4})
    trainer, _, data, method = build(cfg)
    seen_labels = []
    original = method.loss
    method.loss = lambda s, t, progress: (seen_labels.append(s.y), original(s, t, progress))[1]
    trainer.fit(method, data, tmp_path / "run", Loggers(), seed=0)
    assert len(probe["decoded"]) == len(data.target_train) == 300  # every target sample, unknown ones too
    assert set(torch.cat(seen_labels).tolist()) <= {0, 1} and data.num_classes == 2
    assert all(t_idx.max() < 300 for t_idx in probe["idx"])  # positions, as in closed-set runs
