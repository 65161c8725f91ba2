import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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


@pytest.fixture(autouse=True, scope="session")
def source_model_cache(tmp_path_factory):
    """First-stage source models go to one temporary folder per test session (shared by tests)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DABENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield
