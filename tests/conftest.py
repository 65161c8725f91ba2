import http.server
import os
import threading
from functools import partial
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest -n N: one torch thread per worker, and in the CLI subprocesses the tests start, so that
    # N workers share the cores instead of each spreading over all of them.
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


# The tests that each take 5-25 s (processes started anew, end-to-end runs) run first, so that pytest-xdist's
# workers do not end with one of them running alone: 288-306 s in five runs with it, 336 s in one without.
LONG_FIRST = ("test_bench.py", "test_distributed.py", "test_install.py", "test_gpu_speed_script.py", "test_cli.py",
              "test_docs.py", "test_selection.py", "test_text.py::test_minilm")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: not any(part in item.nodeid for part in LONG_FIRST))  # stable: the rest keep order


def real_data_root() -> Path | None:
    """DABENCH_DATA if it holds the shared layout, else ../shared/data beside the repo, else None."""
    for candidate in (os.environ.get("DABENCH_DATA"), SHARED_DATA):
        if candidate and (Path(candidate) / "SHA256SUMS").is_file():
            return Path(candidate)
    return None


@pytest.fixture
def data_root(monkeypatch) -> Path:
    """The real data folder, also exported as DABENCH_DATA for the code under test."""
    root = real_data_root()
    if root is None:
        pytest.skip("real datasets absent: set DABENCH_DATA to a folder with the shared data layout "
                    "(CI uses ../shared/data)")
    monkeypatch.setenv("DABENCH_DATA", str(root))
    return root


SPEECH_WORDS = ("one", "two", "three")
SPEECH_VOICES = 2  # of each family: male m1-m2, female f1-f2


def session_folder(tmp_path_factory, worker_id) -> Path:
    """The test session's temporary folder that every pytest-xdist worker shares (without xdist: this run's)."""
    return tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent


@pytest.fixture(scope="session")
def speech_corpus(tmp_path_factory, worker_id):
    """(root, manifest) of a small spoken-digits corpus: three words, all three domains, two voices of each family
    (each voice in a fresh process; a few seconds, so written once per test session, for every xdist worker: the
    first one writes it under the session's shared temporary folder, the others wait for it and read it)."""
    import json

    from filelock import FileLock

    from dabench.data.speech_synth import write_corpus

    shared = session_folder(tmp_path_factory, worker_id)
    root = shared / "speech_corpus"
    with FileLock(str(shared / "speech_corpus.lock")):
        if not (root / "manifest.json").is_file():
            write_corpus(root, words=SPEECH_WORDS, voices=SPEECH_VOICES)
    return root, json.loads((root / "manifest.json").read_text())


@pytest.fixture(autouse=True, scope="session")
def fork_server():
    """Start this worker's fork server warm for both of its users, the two-process training runs and the speech
    synthesizer's voices: the server keeps the preload it started with (dabench.processes)."""
    import multiprocessing.forkserver

    from dabench.data import speech_synth
    from dabench.processes import fresh_process_context
    from dabench.testing import FORK_PRELOAD

    if fresh_process_context([*FORK_PRELOAD, *speech_synth.FORK_PRELOAD]).get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


@pytest.fixture(autouse=True, scope="session")
def source_model_cache(tmp_path_factory, worker_id):
    """First-stage source models go to one temporary cache per test session, shared by tests and by the xdist
    workers (as by a benchmark's parallel cells: a lock makes the first to need a stage train it once)."""
    cache = session_folder(tmp_path_factory, worker_id) / "cache"
    cache.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DABENCH_CACHE", str(cache))
        yield


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (status 206), as real hosts serve them."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        try:
            data = open(path, "rb").read()
        except OSError:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        if path.endswith(".html"):  # a sign-in or confirmation page where a file should be
            self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)  # shutdown() waits one poll
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture
def published_lookups(monkeypatch) -> list[str]:
    """The setting of every paper_results/ lookup a table makes (report.published is spied on)."""
    from dabench.bench import report

    lookups, lookup = [], report.published
    monkeypatch.setattr(report, "published", lambda *args: lookups.append(args[-1]) or lookup(*args))
    return lookups
