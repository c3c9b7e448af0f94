"""The dashboard's server: it listens on the loopback interface only, with Streamlit's protections on.

``.streamlit/config.toml`` is read as Streamlit reads it, then the app is started the way a user
starts it (``streamlit run dashboard/app.py``, no address given) on a free port: it must answer on
127.0.0.1 and refuse a connection on this machine's other addresses (skipped, with the reason, on
a machine that has none).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from core.data.imdb import MAX_ARCHIVE_FILE_BYTES

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".streamlit" / "config.toml"
START_TIMEOUT_S = 60


def config() -> dict:
    with CONFIG.open("rb") as f:
        return tomllib.load(f)


def test_the_config_binds_the_server_to_the_loopback_address():
    assert config()["server"]["address"] == "127.0.0.1"


def test_the_config_keeps_xsrf_and_cors_protection_and_bounds_uploads():
    server = config()["server"]
    assert server["enableXsrfProtection"] is True and server["enableCORS"] is True
    assert server.get("enableStaticServing", False) is False
    assert 84 <= server["maxUploadSize"] <= MAX_ARCHIVE_FILE_BYTES / 1e6  # the archive fits; the reader's bound holds
    assert set(server["allowedHosts"]) <= {"localhost", "127.0.0.1"}


def test_the_config_never_shows_a_traceback_in_the_browser():
    assert config()["client"]["showErrorDetails"] in ("type", "none")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def other_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, or None."""
    candidates = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # a UDP "connect" sends nothing: it only picks the outgoing interface
            candidates.append(s.getsockname()[0])
        except OSError:
            pass
    try:
        candidates += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    return next((a for a in candidates if not a.startswith("127.") and a != "0.0.0.0"), None)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """``streamlit run dashboard/app.py`` as a user runs it (no address given), on a free port, with an empty home."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    # no STREAMLIT_* variable may override the project's config.toml
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(RNNLAB_HOME=str(root / "home"))
    env.pop("RNNLAB_IMDB", None)
    log = open(root / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + START_TIMEOUT_S
        while not answers(f"http://127.0.0.1:{port}/_stcore/health"):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start: {(root / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield {"port": port, "log": root / "streamlit.log"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()


def test_the_app_answers_on_the_loopback_address(app):
    assert answers(f"http://127.0.0.1:{app['port']}/_stcore/health")
    with urllib.request.urlopen(f"http://127.0.0.1:{app['port']}/", timeout=5) as r:
        assert r.status == 200 and b"<html" in r.read().lower()


def test_the_app_cannot_be_reached_on_another_address_of_this_machine(app):
    address = other_address()
    if address is None:
        pytest.skip("this machine has no address but loopback, so there is nothing else to reach the app on")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        with pytest.raises(OSError):  # refused: nothing listens there on this port
            s.connect((address, app["port"]))
    assert not answers(f"http://{address}:{app['port']}/_stcore/health")
