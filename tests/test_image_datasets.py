"""Image datasets end to end against a local HTTP server: each archive is built in the dataset's
real layout (folders, list files, archive format) with small generated images, then downloaded,
checked, extracted, counted and loaded lazily."""
import hashlib
import io
import tarfile
import zipfile
from dataclasses import replace

import pytest
import torch
from PIL import Image

from dabench.data.archives import MARKER, prepare, verify
from dabench.data.base import DATASETS
from dabench.data.files import ImageFiles
from dabench.errors import DabenchError
from dabench.testing import folder_config, make_folder_domains

PER_CLASS = 2


def image_bytes(label: int, index: int, fmt: str = "JPEG") -> bytes:
    colour = ((40 * label) % 256, (90 * index) % 256, 128)
    buffer = io.BytesIO()
    Image.new("RGB", (20 + index, 16), colour).save(buffer, fmt)
    return buffer.getvalue()


def write_archive(path, members: dict[str, bytes]) -> None:
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        return
    mode = "w:gz" if path.name.endswith((".tgz", ".tar.gz")) else "w"
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def class_folder_members(prefix: str, classes, ext: str = "jpg") -> dict[str, bytes]:
    return {f"{prefix}/{c}/{i:04d}.{ext}": image_bytes(label, i)
            for label, c in enumerate(classes) for i in range(PER_CLASS)}


def list_members(image_prefix: str, path_prefix: str, classes, list_name: str, flat: bool = False):
    """Images under image_prefix/ and a list file whose paths start with path_prefix."""
    members, lines = {}, []
    for label, c in enumerate(classes):
        for i in range(PER_CLASS):
            relative = f"{c}_{i}.jpg" if flat else f"{c}/{i:04d}.jpg"
            members[f"{image_prefix}/{relative}"] = image_bytes(label, i)
            lines.append(f"{path_prefix}{relative} {label}")
    members[list_name] = ("\n".join(lines) + "\n").encode()
    return members


CLASSES = 3  # the first classes of each dataset, to keep archives small


def layout(name: str, classes) -> dict[str, dict[str, bytes]]:
    """Archive name -> members, in the dataset's published layout."""
    if name == "office31":
        members = {}
        for d in ("amazon", "dslr", "webcam"):
            members.update(class_folder_members(f"{d}/images", classes))
        return {"domain_adaptation_images.tar.gz": members}
    if name == "office_home":
        members = {}
        for d in ("Art", "Clipart", "Product", "Real World"):
            members.update(class_folder_members(f"OfficeHomeDataset_10072016/{d}", classes))
        return {"OfficeHomeDataset_10072016.zip": members}
    if name == "visda2017":
        return {"train.tar": list_members("train", "", classes, "train/image_list.txt"),
                "validation.tar": list_members("validation", "", classes, "validation/image_list.txt")}
    if name == "domainnet":
        archives = {}
        for d in ("clipart", "infograph", "painting", "quickdraw", "real", "sketch"):
            archives[f"{d}.zip"] = class_folder_members(d, classes)
            for split, index in (("train", 0), ("test", 1)):
                lines = [f"{d}/{c}/{index:04d}.jpg {label}" for label, c in enumerate(classes)]
                archives[f"{d}_{split}.txt"] = ("\n".join(lines) + "\n").encode()
        return archives
    if name == "image_clef":
        members = {}
        for d in ("b", "c", "i", "p"):
            members.update(list_members(f"image_CLEF/{d}", f"{d}/", classes, f"image_CLEF/list/{d}List.txt", True))
        return {"image_CLEF.zip": members}
    if name == "office_caltech10":
        members = {}
        for d in ("amazon", "caltech", "dslr", "webcam"):
            members.update(class_folder_members(d, classes))
        return {"officecaltech.tgz": members}
    if name == "cub200":  # images.txt, image_class_labels.txt, train_test_split.txt: one train, one test per class
        members, images, labels, split = {}, [], [], []
        for label in range(CLASSES):
            for i in range(2):
                image_id, path = str(len(images) + 1), f"{label + 1:03d}.Bird_{label}/bird_{i}.jpg"
                members[f"CUB_200_2011/images/{path}"] = image_bytes(label, i)
                images.append(f"{image_id} {path}")
                labels.append(f"{image_id} {label + 1}")
                split.append(f"{image_id} {1 - i}")
        for file, lines in (("images.txt", images), ("image_class_labels.txt", labels), ("train_test_split.txt", split)):
            members[f"CUB_200_2011/{file}"] = ("\n".join(lines) + "\n").encode()
        return {"CUB_200_2011.tgz": members}
    if name == "stanford_cars":  # the devkit's .mat struct arrays, images in cars_train/ and cars_test/
        import numpy as np
        from scipy.io import savemat

        def annotations(names):
            fields = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"),
                      ("fname", "O")]
            rows = np.array([(1, 1, 10, 10, label + 1, n) for label, n in enumerate(names)], dtype=fields)
            buffer = io.BytesIO()
            savemat(buffer, {"annotations": rows.reshape(1, -1)})
            return buffer.getvalue()

        names = [f"{i:05d}.jpg" for i in range(1, CLASSES + 1)]
        return {"car_devkit.tgz": {"devkit/cars_train_annos.mat": annotations(names),
                                   "devkit/cars_meta.mat": b"", "devkit/README.txt": b"devkit"},
                "cars_train.tgz": {f"cars_train/{n}": image_bytes(label, 0) for label, n in enumerate(names)},
                "cars_test.tgz": {f"cars_test/{n}": image_bytes(label, 1) for label, n in enumerate(names)},
                "cars_test_annos_withlabels.mat": annotations(names)}
    if name == "fgvc_aircraft":  # variant names with spaces, image ids in the split lists
        variants = ["707-320", "Cessna 172", "A340-500"][:CLASSES]
        data, members = "fgvc-aircraft-2013b/data", {}
        for split, index in (("trainval", 0), ("test", 1)):
            lines = []
            for label, variant in enumerate(variants):
                image_id = f"{1000000 + 10 * label + index}"
                members[f"{data}/images/{image_id}.jpg"] = image_bytes(label, index)
                lines.append(f"{image_id} {variant}")
            members[f"{data}/images_variant_{split}.txt"] = ("\n".join(lines) + "\n").encode()
        members[f"{data}/variants.txt"] = ("\n".join(variants) + "\n").encode()
        return {"fgvc-aircraft-2013b.tar.gz": members}
    raise KeyError(name)


def serve(name, served, url, monkeypatch, checksums: bool = True, counts: int | None = None):
    """Build `name`'s archives into the served folder and point the dataset at them: a dead mirror
    first, then the local server; counts and checksums those of the built files."""
    cls = DATASETS.get(name)
    built = layout(name, cls.class_names[:CLASSES])
    for archive_name, members in built.items():
        path = served / archive_name
        if isinstance(members, bytes):
            path.write_bytes(members)
        else:
            write_archive(path, members)
    archives = tuple(replace(a, mirrors=("http://127.0.0.1:9/dead/" + a.name, url + a.name),
                             checksum=f"sha256:{hashlib.sha256((served / a.name).read_bytes()).hexdigest()}"
                             if checksums else None) for a in cls.archives)
    per_key = counts if counts is not None else (CLASSES if not cls.transductive else CLASSES * PER_CLASS)
    monkeypatch.setattr(cls, "archives", archives)
    monkeypatch.setattr(cls, "counts", {k: per_key for k in cls.counts})
    return cls


@pytest.mark.parametrize("name", ["office31", "office_home", "visda2017", "domainnet", "image_clef",
                                  "office_caltech10", "cub200", "stanford_cars", "fgvc_aircraft"])
def test_download_extract_count_and_load_in_the_real_layout(name, server, tmp_path, monkeypatch):
    served, url = server
    serve(name, served, url, monkeypatch)
    dataset = DATASETS.build({"name": name, "image_size": 8, "resize_size": 10, "workers": 0}, root=tmp_path)
    assert all(dataset.missing_files(d) for d in dataset.domains)
    marker = prepare(dataset, progress=False)
    assert set(marker["archives"]) == {a.name for a in dataset.archives}
    for domain in dataset.domains:
        assert not dataset.missing_files(domain)
        files, labels = dataset.load(domain, "test").tensors
        assert isinstance(files, ImageFiles) and files.shape[1:] == (3, 8, 8)
        assert sorted(labels.tolist()) == sorted(list(range(CLASSES)) * (len(labels) // CLASSES))
        batch = files[torch.arange(len(files))]
        assert batch.shape == (len(files), 3, 8, 8) and torch.isfinite(batch).all()
    # The label of every image is its class folder's (or list's) class.
    files, labels = dataset.load(dataset.domains[0], "train").tensors
    for path, label in zip(files.paths, labels.tolist()):
        if dataset.class_names:
            assert dataset.class_names[label] in path
        else:  # labels from annotation files: the fixture paints class c with red 40 c
            assert abs(Image.open(path).convert("RGB").getpixel((5, 5))[0] - 40 * label) < 8
    assert verify(dataset) == []


@pytest.mark.parametrize("name", ["domainnet", "stanford_cars"])  # one archive per domain; archives beside a .mat
def test_delete_archives_leaves_the_extracted_files_and_their_sha256(name, server, tmp_path, monkeypatch, capsys):
    from dabench.cli import main

    served, url = server
    cls = serve(name, served, url, monkeypatch)
    dataset = DATASETS.build({"name": name, "image_size": 8, "resize_size": 10, "workers": 0}, root=tmp_path)
    assert main(["data", "download", name, "--root", str(tmp_path), "--delete-archives"]) == 0
    kept = sorted(f.name for f in dataset.directory.iterdir() if f.is_file())
    assert kept == sorted([MARKER] + [a.name for a in cls.archives if not a.name.endswith((".zip", ".tgz"))])
    recorded = dataset.verified()["archives"]
    assert recorded == {a.name: hashlib.sha256((served / a.name).read_bytes()).hexdigest() for a in cls.archives}
    assert verify(dataset) == [] and len(dataset.load(dataset.domains[0], "test")) > 0
    assert main(["data", "download", "digits", "--root", str(tmp_path), "--delete-archives"]) == 2
    assert "--delete-archives: digits reads the files it downloads as they are" in capsys.readouterr().err

def test_a_domain_is_fetched_alone(server, tmp_path, monkeypatch):
    served, url = server
    serve("domainnet", served, url, monkeypatch)
    dataset = DATASETS.build({"name": "domainnet", "workers": 0}, root=tmp_path)
    prepare(dataset, ["sketch"], progress=False)
    assert sorted(p.name for p in dataset.directory.glob("*.zip")) == ["sketch.zip"]
    assert not dataset.missing_files("sketch") and dataset.missing_files("real")
    with pytest.raises(DabenchError, match=r"domain 'real' is not downloaded and verified.*dabench data download"):
        dataset.load("real", "train")


def test_a_corrupt_archive_without_a_published_checksum_is_reported_and_never_loaded(server, tmp_path,
                                                                                      monkeypatch):
    served, url = server
    serve("office31", served, url, monkeypatch, checksums=False)
    archive = served / "domain_adaptation_images.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-200])  # truncated
    dataset = DATASETS.build({"name": "office31", "workers": 0}, root=tmp_path)
    with pytest.raises(DabenchError, match=r"archive .*domain_adaptation_images.tar.gz is corrupt or truncated"):
        prepare(dataset, progress=False)
    assert dataset.missing_files("amazon")


def test_a_corrupt_archive_with_a_checksum_is_rejected_by_every_mirror(server, tmp_path, monkeypatch):
    served, url = server
    serve("visda2017", served, url, monkeypatch)
    (served / "train.tar").write_bytes(b"not a tar")
    dataset = DATASETS.build({"name": "visda2017", "workers": 0}, root=tmp_path)
    with pytest.raises(DabenchError, match=r"could not download train.tar: .*sha256 [0-9a-f]{64}, expected sha256:"):
        prepare(dataset, ["synthetic"], progress=False)
    assert not (dataset.directory / "train.tar").exists()


def test_a_mirror_serving_a_web_page_is_skipped_even_without_a_checksum(server, tmp_path, monkeypatch):
    served, url = server
    cls = serve("office31", served, url, monkeypatch, checksums=False)
    (served / "confirm.html").write_text("<html>Google Drive can't scan this file for viruses</html>")
    archive = cls.archives[0]
    monkeypatch.setattr(cls, "archives", (replace(archive, mirrors=(url + "confirm.html", url + archive.name)),))
    dataset = DATASETS.build({"name": "office31", "workers": 0}, root=tmp_path)
    prepare(dataset, progress=False)
    assert not dataset.missing_files("amazon")
    monkeypatch.setattr(cls, "archives", (replace(archive, mirrors=(url + "confirm.html",)),))
    (dataset.directory / archive.name).unlink()
    with pytest.raises(DabenchError, match=r"confirm.html \(served a web page, not the file: open .* in a browser\)"):
        prepare(dataset, progress=False)


def test_a_count_mismatch_is_an_error_and_nothing_is_marked_verified(server, tmp_path, monkeypatch):
    served, url = server
    serve("office_home", served, url, monkeypatch, counts=7)
    dataset = DATASETS.build({"name": "office_home", "workers": 0}, root=tmp_path)
    with pytest.raises(DabenchError, match=r"office_home: Art has 6 files, expected 7"):
        prepare(dataset, progress=False)
    assert not (dataset.directory / MARKER).exists()


def test_an_interrupted_download_resumes(server, tmp_path, monkeypatch):
    served, url = server
    serve("office_caltech10", served, url, monkeypatch)
    dataset = DATASETS.build({"name": "office_caltech10", "workers": 0}, root=tmp_path)
    data = (served / "officecaltech.tgz").read_bytes()
    dataset.directory.mkdir(parents=True)
    (dataset.directory / "officecaltech.tgz.part").write_bytes(data[:len(data) // 2])
    prepare(dataset, progress=False)
    assert (dataset.directory / "officecaltech.tgz").read_bytes() == data


def test_every_mirror_failing_names_the_manual_steps(tmp_path):
    dataset = DATASETS.build({"name": "image_clef", "workers": 0}, root=tmp_path)
    with pytest.raises(DabenchError, match=r"could not download image_CLEF.zip: tried no mirror known; get the file by "
                                           r"hand \(.*github.com/thuml/JAN.*\) and run `dabench data import image_clef"):
        prepare(dataset, progress=False)


def test_import_a_file_obtained_by_hand_then_verify_notices_changes(server, tmp_path, monkeypatch):
    served, url = server
    serve("office31", served, url, monkeypatch, checksums=False)
    dataset = DATASETS.build({"name": "office31", "workers": 0}, root=tmp_path / "root")
    marker = prepare(dataset, source=served / "domain_adaptation_images.tar.gz")
    assert set(marker["counts"]) == {"amazon", "dslr", "webcam"}
    assert verify(dataset) == []
    next(dataset.directory.glob("dslr/images/*/*.jpg")).unlink()
    (dataset.directory / "domain_adaptation_images.tar.gz").write_bytes(b"changed")
    problems = verify(dataset)
    assert len(problems) == 2 and "recorded" in problems[0] and "dslr: 5 files listed" in problems[1]
    with pytest.raises(DabenchError, match=r"archive .* is corrupt or truncated \(file could not be opened[^\n]*$"):
        prepare(dataset, source=dataset.directory)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DabenchError, match=r"empty: expected domain_adaptation_images.tar.gz \(the files of office31\)"):
        prepare(dataset, source=tmp_path / "empty")


def test_folder_dataset_in_both_layouts(tmp_path):
    classes = ("cat", "dog")
    for layout_name in ("folders", "lists"):
        root = tmp_path / layout_name
        for domain in ("photos", "sketches"):
            for label, c in enumerate(classes):
                for i in range(PER_CLASS):
                    path = root / domain / c / f"{i}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(image_bytes(label, i, "PNG"))
            if layout_name == "lists":
                lines = [f"{domain}/{c}/{i}.png {label}" for label, c in enumerate(classes) for i in range(PER_CLASS)]
                (root / f"{domain}.txt").write_text("\n".join(lines))
        dataset = DATASETS.build({"name": "folder", "path": str(root), "image_size": 16, "workers": 0})
        assert dataset.domains == ("photos", "sketches") and dataset.num_classes == 2
        files, labels = dataset.load("sketches", "train").tensors
        assert len(files) == 4 and labels.tolist() == [0, 0, 1, 1]
        assert dataset.used_files


def test_folder_dataset_without_a_path_says_how_to_set_it():
    with pytest.raises(DabenchError, match=r"dataset 'folder' needs path=.*set dataset.path"):
        DATASETS.build({"name": "folder"})


def test_a_run_on_lazy_images_is_reproducible_with_or_without_loader_workers(tmp_path):
    from dabench.run import train

    root = make_folder_domains(tmp_path / "domains")
    in_process = train(folder_config(root), tmp_path / "w0")
    with_workers = train(folder_config(root, workers=2), tmp_path / "w2")
    assert in_process["records"] == with_workers["records"]
    assert any(key.endswith("photos (listing)") for key in in_process["data_files"])


def test_a_decompression_bomb_stops_training_with_one_line(tmp_path, monkeypatch):
    from dabench.run import train

    root = make_folder_domains(tmp_path / "domains")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # every small test image is now over twice the limit
    with pytest.raises(DabenchError, match=r"image .*\.png is refused as a decompression bomb .* delete it, or raise "
                                           r"PIL.Image.MAX_IMAGE_PIXELS"):
        train(folder_config(root), tmp_path / "run")


def test_an_error_in_a_loader_worker_keeps_its_one_line_message():
    class Unreadable(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            raise DabenchError("cannot read image a.png (broken); re-extract the dataset")

    with pytest.raises(DabenchError) as caught:
        next(iter(torch.utils.data.DataLoader(Unreadable(), num_workers=1)))
    assert str(caught.value) == "cannot read image a.png (broken); re-extract the dataset"


def test_training_view_is_random_per_step_and_fixed_by_the_seed(tmp_path):
    from dabench.data.loaders import InfiniteBatches

    root = make_folder_domains(tmp_path / "domains")
    dataset = DATASETS.build(folder_config(root)["dataset"])
    files, labels = dataset.load("photos", "train").tensors
    stream, again = InfiniteBatches(files, labels, 4, seed=3), InfiniteBatches(files, labels, 4, seed=3)
    first = stream.batch(0)
    assert torch.equal(first.x, again.batch(0).x) and torch.equal(first.y, labels[first.idx])
    # the same images in the test view are the deterministic centre crop, not the augmented one
    assert not torch.equal(first.x, files[first.idx])
    assert torch.equal(files[first.idx], files[first.idx])


def test_held_out_split_files_are_drawn_once_then_reused(tmp_path):
    root = make_folder_domains(tmp_path / "domains", per_class=10)
    spec = {"name": "folder", "path": str(root), "image_size": 16, "workers": 0, "test_fraction": 0.3}
    dataset = DATASETS.build(spec)
    train, test = (dataset.load("photos", split).tensors for split in ("train", "test"))
    assert len(test[0]) == 9 and len(train[0]) == 21 and not set(train[0].paths) & set(test[0].paths)
    assert sorted(test[1].tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # stratified
    split_file = dataset.split_folders[-1] / "photos-test30-seed0.txt"  # in the cache, not beside the images
    assert not (root / ".splits").exists()
    assert split_file.read_text().startswith("# test split: 0.3")
    assert not dataset.transductive and "held-out" in dataset.protocol
    lines = split_file.read_text().splitlines()
    split_file.write_text("\n".join([lines[0], *lines[2:], lines[1]]) + "\n")  # same ids, other order
    assert DATASETS.build(spec).load("photos", "test").tensors[0].paths == test[0].paths
    split_file.write_text(split_file.read_text() + "photos/cat/missing.png\n")
    with pytest.raises(DabenchError, match=r"lists 1 samples that domain photos does not have"):
        DATASETS.build(spec).load("photos", "test")
    with pytest.raises(DabenchError, match=r"domainnet has official train/test splits"):
        DATASETS.build({"name": "domainnet", "test_fraction": 0.2})


def test_mini_digits_reads_its_shipped_split_files(tmp_path):
    from dabench.data.splits import SHIPPED

    dataset = DATASETS.build("mini_digits", root=tmp_path)
    shipped = (SHIPPED / "mini_digits" / "optdigits-test20-seed0.txt").read_text().splitlines()[1:]
    assert len(dataset.load("optdigits", "test")) == len(shipped) == 360
    assert len(dataset.load("optdigits", "train")) == 1797 - 360
    assert not (tmp_path / "splits").exists()  # nothing drawn: the shipped files were used
    before = sorted(tmp_path.rglob("*"))
    dataset = DATASETS.build({"name": "mini_digits", "test_fraction": 0.3}, root=tmp_path)
    assert len(dataset.load("optdigits", "test")) == 540
    assert sorted(tmp_path.rglob("*")) == before  # a new split is drawn into the cache, not the data root


def test_decoding_training_views_leaves_every_random_generator_as_it_was(tmp_path, monkeypatch):
    """Per-image seeds touch the CPU generator only, inside fork_rng; a CUDA generator reseeded there
    would never be restored (fork_rng(devices=[])), so GPU dropout would depend on the images read."""
    reseeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: reseeded.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: reseeded.append(seed))
    root = make_folder_domains(tmp_path / "domains")
    files, _ = DATASETS.build(folder_config(root)["dataset"]).load("photos", "train").tensors
    torch.manual_seed(5)
    reseeded.clear()
    before = torch.get_rng_state()
    files.training_view().read([0, 1, 2], seed=3)
    assert torch.equal(torch.get_rng_state(), before) and reseeded == []


def test_evaluation_chunks_reach_spawned_loader_workers(tmp_path, monkeypatch):
    """Loader workers started with spawn or forkserver receive the read function pickled: it must not be a lambda.
    They ship uint8, normalised on the device."""
    import pickle

    from dabench.data import files

    root = make_folder_domains(tmp_path / "domains", per_class=2)
    images, _ = DATASETS.build({"name": "folder", "path": str(root), "image_size": 32, "resize_size": 36,
                                "workers": 1}).load("photos", "train").tensors
    readers = []
    prefetched = files.prefetched
    monkeypatch.setattr(files, "prefetched", lambda read_batch, *args, **kwargs: readers.append(read_batch) or
                        prefetched(read_batch, *args, **kwargs))
    first = next(files.chunks(images, 4))
    shipped = pickle.loads(pickle.dumps(readers[0]))(0)
    assert shipped.dtype == torch.uint8 and torch.equal(images.policy.normalize(shipped), first)
    assert torch.equal(first, images[:4])
    # a second evaluation reuses the loader, whose worker stayed alive
    assert torch.equal(next(files.chunks(images, 4)), first) and len(readers) == 1
    assert images.test_chunks(4)._iterator is not None


def test_a_finished_run_leaves_no_loader_workers_behind(tmp_path):
    """Loaders sit in no reference cycle, so they stop with the run: a loader left to the cycle collector waits
    seconds for each worker to exit (50 s for one small run with 2 workers per split)."""
    import gc

    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

    from dabench.run import train

    root = make_folder_domains(tmp_path / "domains")
    gc.collect()
    gc.disable()  # only reference counting frees the loaders now
    try:
        train(folder_config(root, workers=1), tmp_path / "run")
        alive = [o for o in gc.get_objects() if type(o) is _MultiProcessingDataLoaderIter]
    finally:
        gc.enable()
    assert alive == []


def test_a_transductive_target_is_predicted_once_per_evaluation(tmp_path, monkeypatch):
    """Its test inputs are its train inputs (the folder dataset without test_fraction): evaluation reuses the
    target train predictions for the oracle score instead of decoding every image twice."""
    from dabench import evaluate
    from dabench.data import loaders
    from dabench.data.base import DATASETS
    from dabench.data.loaders import TransferData

    root = make_folder_domains(tmp_path / "domains")
    cfg = folder_config(root, method="dann")
    data = TransferData(DATASETS.build(cfg["dataset"]), "photos", "sketches")
    held_out = TransferData(DATASETS.build({**cfg["dataset"], "test_fraction": 0.5}), "photos", "sketches")
    assert data.target_test_is_train and not held_out.target_test_is_train
    predicted = []
    real = evaluate.predict
    monkeypatch.setattr(evaluate, "predict", lambda method, x, *args: predicted.append(len(x)) or real(method, x, *args))
    from dabench.run import train

    reused = train(cfg, tmp_path / "reused")
    assert predicted[:2] == [18, 2]  # target train and source val; no third call for the target test split
    monkeypatch.setattr(loaders, "same_inputs", lambda x, other: False)  # as before: predicted twice
    predicted.clear()
    twice = train(cfg, tmp_path / "twice")
    assert predicted[:3] == [18, 2, 18] and twice["records"] == reused["records"]
