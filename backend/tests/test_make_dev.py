"""`make dev` as a newcomer runs it, on a machine whose only PostgreSQL is the one Keel embeds.

Whatever server the rest of the suite uses, this test starts the embedded server in a throwaway data
directory through `make dev` in a terminal (a pseudo-terminal), applies every migration, seeds, serves
an authenticated request, then presses Ctrl-C: everything must stop, cleanly. It fails the day a
migration needs something the embedded build lacks.
"""

from __future__ import annotations

import os
import pty
import signal
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port, wait_until_ready

REPO = Path(__file__).resolve().parents[2]
CTRL_C = b"\x03"


class Terminal:
    """`make dev` on a pseudo-terminal whose output is kept (and drained, so the program never blocks)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a new session whose controlling terminal is the pty
            os.chdir(REPO)
            os.execvpe("make", ["make", "dev"], env)  # noqa: S606 (no shell: just make)
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the other side closed
                return
            if not chunk:
                return
            self.output += chunk

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def wait_for(self, words: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while words not in self.text:
            assert time.monotonic() < deadline, f"no {words!r} after {timeout} s:\n{self.text[-4000:]}"
            reason = self.ended()
            assert reason is None, reason
            time.sleep(0.2)

    def ended(self) -> str | None:
        """Why make dev can no longer answer (it exited), with its output; None while it runs."""
        return None if os.waitpid(self.pid, os.WNOHANG) == (0, 0) else f"make dev ended:\n{self.text[-4000:]}"

    def exit_status(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._reader.join(timeout=5)
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise AssertionError(f"make dev did not stop:\n{self.text[-4000:]}")
            time.sleep(0.2)


def _processes_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            environ = process.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(data_dir) in cmdline or environ.get("KEEL_DATA_DIR") == str(data_dir):
            found.append(process)
    return found


@pytest.mark.slow
def test_make_dev_runs_on_the_embedded_database_and_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    data_dir = tmp_path / "keel-data"
    api_port, smtp_port = free_port(), free_port()
    # A newcomer's shell: the machine's environment without the suite's own configuration (no
    # DATABASE_URL, no Redis, no SMTP host, no test settings).
    ours = ("KEEL_", "DATABASE_URL", "TEST_", "REDIS_URL", "PYTEST", "COV_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(ours)}
    env.update(
        TERM="xterm",
        KEEL_DATA_DIR=str(data_dir),
        KEEL_API_PORT=str(api_port),
        KEEL_DEV_SMTP_PORT=str(smtp_port),
    )
    terminal = Terminal(env)
    try:
        terminal.wait_for("Keel is running", timeout=240)
        base = f"http://127.0.0.1:{api_port}"
        wait_until_ready(base, time.monotonic() + 90, terminal.ended)
        key = (data_dir / "demo-api-key").read_text().strip()
        answer = httpx.get(f"{base}/api/v1/organization", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["slug"] == "demo"
        accounts = httpx.get(f"{base}/api/v1/accounts?limit=100", headers={"Authorization": f"Bearer {key}"})
        assert accounts.status_code == 200 and len(accounts.json()["items"]) == 50  # the demo data
        assert (data_dir / "pgdata" / "postmaster.pid").exists()  # the embedded server, not another
        assert "embedded, data in" in terminal.text

        os.write(terminal.fd, CTRL_C)
        status = terminal.exit_status(timeout=60)
    finally:
        for process in _processes_using(data_dir):
            process.kill()
    assert status == 0, terminal.text[-4000:]
    assert "Traceback" not in terminal.text, terminal.text
    assert "make: ***" not in terminal.text, terminal.text[-4000:]
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "the database was not shut down"
    assert _processes_using(data_dir) == [], "a process outlived make dev"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=2)
