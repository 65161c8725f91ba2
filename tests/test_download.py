"""Downloads against a local HTTP server: mirrors, checksums, resumed partial files."""
import hashlib

import pytest

from dabench.data.download import download_file
from dabench.errors import DabenchError

PAYLOAD = bytes(range(256)) * 1000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_from_the_first_mirror(server, tmp_path):
    served, url = server
    (served / "f.bin").write_bytes(PAYLOAD)
    path = download_file(tmp_path / "root", "ds/f.bin", SHA, [url + "f.bin"], progress=False)
    assert path.read_bytes() == PAYLOAD


def test_a_dead_first_mirror_falls_through_to_the_next(server, tmp_path):
    served, url = server
    (served / "f.bin").write_bytes(PAYLOAD)
    mirrors = [url + "gone/f.bin", "http://127.0.0.1:9/f.bin", url + "f.bin"]
    assert download_file(tmp_path / "root", "f.bin", SHA, mirrors, progress=False).read_bytes() == PAYLOAD


def test_a_corrupt_archive_is_reported_by_name_and_not_kept(server, tmp_path):
    served, url = server
    (served / "f.bin").write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(DabenchError, match=r"could not download ds/f.bin: tried .*sha256 [0-9a-f]{64}, expected " + SHA):
        download_file(tmp_path / "root", "ds/f.bin", SHA, [url + "f.bin"], progress=False)
    assert not (tmp_path / "root" / "ds" / "f.bin").exists()
    assert not (tmp_path / "root" / "ds" / "f.bin.part").exists()


def test_an_interrupted_download_resumes_from_its_partial_file(server, tmp_path):
    served, url = server
    (served / "f.bin").write_bytes(PAYLOAD)
    part = tmp_path / "root" / "f.bin.part"
    part.parent.mkdir()
    part.write_bytes(PAYLOAD[:100_000])
    assert download_file(tmp_path / "root", "f.bin", SHA, [url + "f.bin"], progress=False).read_bytes() == PAYLOAD


def test_every_mirror_failing_gives_the_manual_step(tmp_path):
    with pytest.raises(DabenchError, match=r"get the file \(sha256 " + SHA + r"\) by hand and place it at .*f.bin$"):
        download_file(tmp_path, "f.bin", SHA, ["http://127.0.0.1:9/f.bin"], progress=False)
