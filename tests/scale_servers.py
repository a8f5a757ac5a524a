"""Real servers for the scale-out tests and benchmark: Milvus standalone (the PyPI ``milvus`` package) on loopback.

Nothing is mocked: ``MilvusServer`` runs the package's ``milvus-server`` (which unpacks and runs the Milvus
binary), with every role's address set to 127.0.0.1, and waits until a client can list collections.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROLES = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexCoord", "indexNode", "dataCoord", "dataNode")
# Every port fixed once per server, so that a restart comes back at the addresses its sessions recorded.
PORTS = ("etcd", "root-coord", "proxy-internal", "query-coord", "query-node", "index-coord", "index-node",
         "data-coord", "data-node")
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bindable(port: int) -> bool:
    with socket.socket() as sock:  # no SO_REUSEADDR: as strict as the server's own check
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def milvus_command() -> str | None:
    exe = Path(sys.executable).parent / "milvus-server"
    return str(exe) if exe.exists() else shutil.which("milvus-server")


class MilvusServer:
    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.ports = {name: free_port() for name in PORTS}
        self.proc: subprocess.Popen | None = None
        self.log = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"milvus://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> float:
        """Start and wait until healthy; returns the seconds it took. Raises RuntimeError with the log's tail."""
        command = milvus_command()
        if command is None:
            raise RuntimeError("milvus-server is not installed (pip install milvus)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [command, "--data", str(self.data_dir / "data"), "--proxy-port", str(self.port)]
        for name, number in self.ports.items():
            args += [f"--{name}-port", str(number)]
        for role in ROLES:
            args += ["--extra-config", f"{role}.ip=127.0.0.1"]
        # A restart after a crash waits for the dead sessions to expire: 10 s rather than 30.
        args += ["--extra-config", "common.session.ttl=10"]
        started = time.monotonic()
        # After a stop, the old server's ports linger in TIME_WAIT, and a port Milvus cannot bind it silently
        # replaces by another one: wait until every port is free, so it comes back at the same address.
        while not all(_bindable(p) for p in (self.port, *self.ports.values())):
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"ports of the previous Milvus server still busy after {timeout:.0f}s")
            time.sleep(1)
        with open(self.log, "ab") as log:
            # Its own session: stopping it stops the Milvus binary it runs too.
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-server exited with {self.proc.returncode}: {self.tail()}")
            if self.healthy():
                return time.monotonic() - started
            time.sleep(0.5)
        self.kill()
        raise RuntimeError(f"milvus-server not healthy within {timeout:.0f}s: {self.tail()}")

    def healthy(self) -> bool:
        """A client can list collections. Asked from a fresh process: pymilvus keeps connections per address,
        and one cached from before a restart may stay broken."""
        code = ("import sys\nfrom pymilvus import MilvusClient\n"
                f"MilvusClient(uri='http://127.0.0.1:{self.port}', timeout=3).list_collections(timeout=3)\n")
        try:
            return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        """SIGINT, as Ctrl+C: the package's own way to stop it."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the whole session: a crash, not a shutdown."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None

    def tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
