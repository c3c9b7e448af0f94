"""Shared fixtures: one torch thread for every test, an isolated RNN Lab home, tiny IMDB-shaped datasets,
and NLTK's English stop-word list from ``tests/data`` for the whole session."""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

# member path under aclImdb/ -> file bytes
Reviews = dict[str, bytes]
# members added as given (names, types, link targets untouched): (TarInfo, data or None)
ExtraMembers = Iterable[tuple[tarfile.TarInfo, bytes | None]]

# files of the official archive that are not reviews; a reader must ignore them
_NON_REVIEWS = {
    "imdb.vocab": b"the\nand\na\n",
    "imdbEr.txt": b"0.0\n",
    "README": b"Large Movie Review Dataset v1.0\n",
    "train/labeledBow.feat": b"0 9:1\n",
    "train/urls_pos.txt": b"http://www.imdb.com/title/tt0000001/usercomments\n",
    "test/urls_neg.txt": b"http://www.imdb.com/title/tt0000002/usercomments\n",
}


def tiny_reviews(per_class: int = 3, unsup: int = 4) -> Reviews:
    """``per_class`` reviews in each of train/test x pos/neg and ``unsup`` unlabelled ones."""
    reviews: Reviews = {}
    for split in ("train", "test"):
        for cls, ratings in (("pos", (7, 8, 9, 10)), ("neg", (1, 2, 3, 4))):
            for i in range(per_class):
                rating = ratings[i % len(ratings)]
                text = f"{split} {cls} review {i}, rated {rating}.<br /><br />A {cls} film."
                reviews[f"{split}/{cls}/{i}_{rating}.txt"] = text.encode()
    for i in range(unsup):
        reviews[f"train/unsup/{i}_0.txt"] = f"unlabelled review {i}".encode()
    return reviews


def _file_info(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_300_000_000
    return info


def write_imdb_archive(
    path: Path, reviews: Reviews | None = None, extra: ExtraMembers = (), non_reviews: bool = True
) -> Path:
    """A ``.tar.gz`` in the official layout (``aclImdb/...``), plus ``extra`` members at the end."""
    reviews = tiny_reviews() if reviews is None else reviews
    files = {**(_NON_REVIEWS if non_reviews else {}), **reviews}
    folders = sorted({"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)})
    with tarfile.open(path, "w:gz") as tar:
        for folder in ["", *folders]:
            info = tarfile.TarInfo(f"aclImdb/{folder}".rstrip("/"))
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in files.items():
            tar.addfile(_file_info(f"aclImdb/{name}", data), io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def write_imdb_folder(root: Path, reviews: Reviews | None = None) -> Path:
    """An extracted ``root/aclImdb/`` folder; returns the ``aclImdb`` folder."""
    reviews = tiny_reviews() if reviews is None else reviews
    for name, data in {**_NON_REVIEWS, **reviews}.items():
        target = root / "aclImdb" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root / "aclImdb"


@pytest.fixture
def rnnlab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ``RNNLAB_HOME`` and no ``RNNLAB_IMDB``: nothing outside tmp_path is read or written."""
    home = tmp_path / "rnnlab-home"
    monkeypatch.setenv("RNNLAB_HOME", str(home))
    monkeypatch.delenv("RNNLAB_IMDB", raising=False)
    return home


@pytest.fixture
def make_imdb_archive() -> Callable[..., Path]:
    """``make_imdb_archive(path, reviews=None, extra=(), non_reviews=True) -> path``."""
    return write_imdb_archive


@pytest.fixture
def make_imdb_folder() -> Callable[..., Path]:
    """``make_imdb_folder(root, reviews=None) -> root/aclImdb``."""
    return write_imdb_folder


@pytest.fixture
def tiny_imdb_archive(tmp_path: Path) -> Path:
    """A 16-review archive in the official layout (3 per labelled class, 4 unlabelled)."""
    return write_imdb_archive(tmp_path / "aclImdb_v1.tar.gz")


@pytest.fixture
def imdb_reviews() -> Callable[..., Reviews]:
    """``imdb_reviews(per_class=3, unsup=4) -> {'train/pos/0_7.txt': b'...', ...}``."""
    return tiny_reviews


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory):
    """Tiny trained RNN, LSTM and GRU runs and a failed one (``tests/fixtures_runs.py``), built once.

    Shared by every test of the session: copy ``.home`` before changing anything in it.
    """
    from fixtures_runs import build_trained_home

    return build_trained_home(tmp_path_factory.mktemp("trained"))


@pytest.fixture
def trained_copy(trained_home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of :func:`trained_home`'s home, made this test's RNNLAB_HOME (its archive RNNLAB_IMDB)."""
    from fixtures_runs import use_home

    copy = tmp_path / "home"
    shutil.copytree(trained_home.home, copy)
    use_home(monkeypatch, copy, trained_home.archive)
    return copy


@pytest.fixture(scope="session")
def rnnlab_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of the checkout as it is now (tracked and new files, nothing git ignores), built once a session
    from a copy elsewhere, so the checkout gets no build/ folder (tests/test_package.py, tests/test_namespace.py)."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    root = Path(__file__).resolve().parent.parent
    tmp = tmp_path_factory.mktemp("wheel")
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the checkout's files")
    listed = subprocess.run(["git", "ls-files", "-coz", "--exclude-standard"], cwd=root, capture_output=True)
    if listed.returncode:
        pytest.skip(f"not a git checkout: {listed.stderr.decode(errors='replace').strip()}")
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (root / name).is_file():  # a tracked file deleted in the working tree is left out
            (tmp / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, tmp / "src" / name)
    # this interpreter's setuptools builds it when new enough (fast, offline); else pip fetches one, as CI does
    try:
        here = ["--no-build-isolation"] if int(version("setuptools").split(".")[0]) >= 77 else []
    except PackageNotFoundError:
        here = []
    done = subprocess.run([sys.executable, "-m", "pip", "-q", "wheel", "--no-deps", *here, "-w", str(tmp / "dist"),
                           str(tmp / "src")], cwd=tmp, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [built] = (tmp / "dist").glob("rnnlab-*.whl")
    return built


# ---------------------------------------------------------------------------------- one thread everywhere
# The tests train tiny models. With PyTorch's default of one thread per core, OpenMP threads spin
# waiting for each other whenever other processes share the cores: on a busy 2-core machine
# tests/test_train.py took 15-37 s with two threads and 8-11 s with one (its LSTM toy task 2-21 s
# against 0.2 s). So every test and every fixture, of any scope, runs torch on one thread, and so
# do the processes the tests start (they inherit the environment).
_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _loaded_torch():
    """torch if something has imported it: a test that never touches torch does not pay for importing it."""
    return sys.modules.get("torch")


@pytest.fixture(scope="session", autouse=True)
def _single_threaded_session():
    """One torch thread for the whole session, session- and module-scoped fixtures included."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _THREAD_ENV.items():
            mp.setenv(name, value)  # OpenMP and MKL read these when torch loads, later here or in a child process
        torch = _loaded_torch()
        threads = torch.get_num_threads() if torch else None
        if torch:
            torch.set_num_threads(1)
        yield
        if torch:
            torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _single_threaded_test(_single_threaded_session):
    """One torch thread in each test; a test that changes the count (``TrainConfig.threads``) leaks nothing."""
    torch = _loaded_torch()  # None: imported during the test if at all, with one thread from the environment
    threads = torch.get_num_threads() if torch else 1
    if torch:
        torch.set_num_threads(1)
    yield
    if torch := _loaded_torch():
        torch.set_num_threads(threads)


@pytest.fixture
def one_thread(_single_threaded_test):
    """One torch thread: every test has it now (the autouse fixtures above); kept for the modules that name it."""


# ---------------------------------------------------------------------------------- NLTK's stop-word list
# The default text pipeline removes NLTK's English stop words, a corpus that pip does not install. The suite
# brings its own copy (NLTK's file, byte for byte), so it runs the same whether or not a machine has the list,
# and reads the same list everywhere. Tests of a machine without the list hide it themselves
# (test_page_setup.py, test_text.py).
NLTK_DATA = Path(__file__).resolve().parent / "data" / "nltk_data"


def pytest_configure(config: pytest.Config) -> None:
    """``NLTK_DATA`` names a private copy of ``tests/data/nltk_data`` for the session and every process it starts.

    Set here, before any test module is imported: NLTK reads ``NLTK_DATA`` once, when it is first imported, and
    test modules may read it at import (``fixtures_runs.nltk_data``). A copy rather than the checkout itself
    because NLTK 3.10 refuses data that other accounts could write, and a checkout made under umask 002 (a common
    default) has group-writable files and folders; the copy is 0644/0755 whatever the checkout's modes.
    """
    folder = Path(tempfile.mkdtemp(prefix="rnnlab-nltk-"))  # private to this account (0700)
    data = folder / "nltk_data"
    shutil.copytree(NLTK_DATA, data)
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    mp = pytest.MonkeyPatch()
    mp.setenv("NLTK_DATA", str(data))  # os.environ: subprocesses (python -m core job ...) inherit it
    config.add_cleanup(mp.undo)
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
