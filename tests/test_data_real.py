"""Real datasets from DABENCH_DATA (../shared/data in CI): checksums, counts and published facts."""
import shutil

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from dabench.data.base import DATASETS
from dabench.errors import DabenchError

pytestmark = pytest.mark.data


def test_declared_checksums_agree_with_the_shipped_sha256sums(data_root):
    listed = {}
    for line in (data_root / "SHA256SUMS").read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        listed[path.removeprefix("./")] = digest
    for name in ("digits", "office_caltech10_surf", "amazon_review_400", "coil20"):
        for relpath, expected in DATASETS.build(name).files.items():
            if relpath in listed:
                assert listed[relpath] in ((expected,) if isinstance(expected, str) else expected), relpath


@pytest.mark.parametrize("name, counts", [
    ("digits", {("mnist", "train"): 10000, ("mnist", "test"): 10000, ("usps", "train"): 7291,
                ("usps", "test"): 2007, ("mnistm", "train"): 10000, ("mnistm", "test"): 9001}),
    ("office_caltech10_surf", {("amazon", "train"): 958, ("caltech", "train"): 1123, ("dslr", "test"): 157,
                               ("webcam", "test"): 295}),
    ("coil20", {("coil1", "train"): 720, ("coil1", "test"): 720, ("coil2", "train"): 720}),
    ("amazon_review_400", {("books", "train"): 2000, ("dvd", "train"): 1999, ("electronics", "test"): 1998,
                           ("kitchen", "test"): 1999}),
])
def test_sample_counts_shapes_and_labels(data_root, name, counts):
    dataset = DATASETS.build(name, root=data_root)
    for (domain, split), count in counts.items():
        x, y = dataset.load(domain, split).tensors
        assert len(x) == len(y) == count
        assert tuple(x.shape[1:]) == dataset.input_shape
        assert set(y.unique().tolist()) == set(range(dataset.num_classes))


def test_mnist_m_pairs_with_mnist_train_digits(data_root):
    """MNIST-M train image i is MNIST train image i blended over a photo: same labels."""
    dataset = DATASETS.build("digits", root=data_root)
    assert dataset.load("mnist", "train").tensors[1].equal(dataset.load("mnistm", "train").tensors[1])


OFFICE_1NN = {("caltech", "amazon"): 23.70, ("caltech", "webcam"): 25.76, ("caltech", "dslr"): 25.48,
              ("amazon", "caltech"): 26.00, ("amazon", "webcam"): 29.83, ("amazon", "dslr"): 25.48,
              ("webcam", "caltech"): 19.86, ("webcam", "amazon"): 22.96, ("webcam", "dslr"): 59.24,
              ("dslr", "caltech"): 26.27, ("dslr", "amazon"): 28.50, ("dslr", "webcam"): 63.39}


def test_office_caltech_surf_1nn_accuracies_match_the_published_values(data_root):
    """GFK preprocessing + 1-NN source-only reproduces the NN column of the JDA paper exactly."""
    dataset = DATASETS.build("office_caltech10_surf", root=data_root)
    arrays = {d: dataset.arrays(d) for d in dataset.domains}
    for (source, target), expected in OFFICE_1NN.items():
        (xs, ys), (xt, yt) = arrays[source], arrays[target]
        predicted = KNeighborsClassifier(n_neighbors=1).fit(xs, ys).predict(xt)
        assert round(100 * np.mean(predicted == yt), 2) == expected, (source, target)


def test_the_published_jda_surf_table_holds_the_1nn_numbers_dabench_reproduces():
    """paper_results/office_caltech10_surf.json was copied by hand: its 1-NN row must be the one the
    test above computes, and the table lookup must find its TCA row for dabench's `tca`."""
    import json

    from dabench.bench.report import PAPER_RESULTS, published

    records = json.loads((PAPER_RESULTS / "office_caltech10_surf.json").read_text())
    nn = {tuple(r["dabench_pair"]): r["accuracy"] for r in records if r["method"] == "NN (source-only)"}
    assert nn == OFFICE_1NN
    found = published("office_caltech10_surf", "mlp", ["tca"], [("caltech", "amazon")])
    assert found["published"].tolist() == [38.2] and found["published_method"].tolist() == ["TCA+1NN"]


def test_coil20_1nn_accuracies_match_the_published_values(data_root):
    """JDA's preprocessing (each image L2-normalised) + 1-NN: the shared data README's figures."""
    dataset = DATASETS.build("coil20", root=data_root)
    pixels = {}
    for domain in dataset.domains:
        x, y = dataset.load(domain, "train").tensors
        x = (x.flatten(1).double() + 1) / 2  # back to the file's [0, 1] values
        pixels[domain] = ((x / x.norm(dim=1, keepdim=True)).numpy(), y.numpy())
    for (source, target), expected in {("coil1", "coil2"): 83.61, ("coil2", "coil1"): 82.78}.items():
        (xs, ys), (xt, yt) = pixels[source], pixels[target]
        predicted = KNeighborsClassifier(n_neighbors=1).fit(xs, ys).predict(xt)
        assert round(100 * np.mean(predicted == yt), 2) == expected, (source, target)


def test_coil20_images_follow_matlabs_column_order(data_root):
    """Pixel (row r, column c) of a 32x32 image is element c * 32 + r of its .mat column (MATLAB
    stores matrices column by column); read row by row the objects would lie on their side."""
    from scipy.io import loadmat

    raw = loadmat(data_root / "coil20/COIL_1.mat")["X_tar"][:, 5]
    x = DATASETS.build("coil20", root=data_root).load("coil2", "test").tensors[0][5, 0]
    expected = np.array([[raw[c * 32 + r] for c in range(32)] for r in range(32)]) * 2 - 1
    assert np.allclose(x.numpy(), expected, atol=1e-6)


def test_a_corrupt_file_is_named_with_its_checksum_and_never_used(data_root, tmp_path):
    relpath = "office_caltech10_surf/webcam_SURF_L10.mat"
    (tmp_path / "office_caltech10_surf").mkdir()
    corrupt = bytearray((data_root / relpath).read_bytes())
    corrupt[200] ^= 0xFF
    (tmp_path / relpath).write_bytes(bytes(corrupt))
    dataset = DATASETS.build("office_caltech10_surf", root=tmp_path)
    with pytest.raises(DabenchError, match=r"webcam_SURF_L10.mat has sha256 [0-9a-f]{64}, expected a6a9c78b"):
        dataset.load("webcam", "train")
    shutil.copy(data_root / relpath, tmp_path / relpath)
    assert len(dataset.load("webcam", "train")) == 295


def test_digits_format_policies_are_applied(data_root):
    rgb = DATASETS.build({"name": "digits", "image_size": 32, "channels": 3}, root=data_root)
    x = rgb.load("mnist", "test").tensors[0]
    assert x.shape[1:] == (3, 32, 32) and (x[:, 0] == x[:, 2]).all()  # grey replicated to RGB
    grey = DATASETS.build({"name": "digits"}, root=data_root).load("mnistm", "test").tensors[0]
    assert grey.shape[1:] == (1, 28, 28)
    stretched = DATASETS.build({"name": "digits", "usps_resize": "stretch"}, root=data_root).load("usps", "test")
    framed = DATASETS.build({"name": "digits", "usps_resize": "frame"}, root=data_root).load("usps", "test")
    assert (framed.tensors[0][:, :, :4] == -1).all() and not (stretched.tensors[0][:, :, :4] == -1).all()


def test_results_record_the_digest_of_the_file_actually_read(data_root):
    dataset = DATASETS.build("digits", root=data_root)
    dataset.load("mnist", "test")
    listed = dict(line.split()[::-1] for line in (data_root / "SHA256SUMS").read_text().splitlines())
    assert dataset.used_files["mnist/t10k-images-idx3-ubyte.gz"] == listed["./mnist/t10k-images-idx3-ubyte.gz"]
