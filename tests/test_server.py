"""The dashboard's server: it listens on the loopback interface only, with Streamlit's protections on.

``.streamlit/config.toml`` is read as Streamlit reads it, then the app is started the way a user
starts it (``streamlit run dashboard/app.py``, no address given) on a free port: it must answer on
127.0.0.1, and the kernel's socket tables must show it listening on 127.0.0.1 alone (read, not
probed: no packet goes to any other address).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from rnnlab.core.data.imdb import MAX_ARCHIVE_FILE_BYTES

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


def test_the_config_hides_the_deploy_button_of_the_local_app():
    # read back through Streamlit itself: the option and its value must be ones this Streamlit knows and applies
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                       if not k.startswith("STREAMLIT_")}).stdout
    section = shown[shown.index("[client]"):]
    described = section[:section.index('toolbarMode = "')].rsplit("\n\n", 1)[-1]  # the option's own comment
    assert 'toolbarMode = "viewer"' in section and described.splitlines()[-1].endswith(f"set in {CONFIG}")
    assert re.search(r'"viewer"\s*:\s*Hide the developer options[^"]*deploy button', described)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """The local addresses sockets listen on for ``port``, from the kernel's tables (Linux /proc/net/tcp, tcp6).

    Read rather than probed: the test never sends a packet to an address other than loopback.
    """
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port and len(address) == width:  # 0A: LISTEN
                found.add(address)
    return found


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
    listening = listening_addresses(app["port"])
    if not listening:
        pytest.skip("the kernel's socket tables (/proc/net/tcp) cannot be read here")
    # 0100007F is 127.0.0.1 as /proc writes it; any other entry (00000000 = every address) would be reachable
    assert listening == {"0100007F"}, f"listening on {sorted(listening)}, not only on 127.0.0.1"
