"""A `seq2seq serve` process for tests: started on a free port of 127.0.0.1, stopped by the test."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path


class ServerProcess:
    """`with ServerProcess(model, "--max-lines", "8") as server:` ... server.url; leaving the block
    stops the process (SIGTERM, then SIGKILL if it does not exit)."""

    def __init__(self, models: Path | list[Path], *args: str, timeout: float = 120):
        models = [models] if isinstance(models, Path) else models
        self.proc = subprocess.Popen(
            # one decoding thread: two stall on each other when other work holds the cores
            [
                sys.executable,
                "-m",
                "seq2seq",
                "serve",
                *map(str, models),
                "--port",
                "0",
                "--threads",
                "1",
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        try:
            while True:
                line = lines.get(timeout=timeout)
                if line is None:
                    raise RuntimeError(f"seq2seq serve exited at start: {''.join(self.stderr)}")
                if line.startswith("listening on "):
                    self.url = line.split()[-1]
                    return
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _drain(self, lines: queue.Queue) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            lines.put(line.strip())
        lines.put(None)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())

    def post(self, body: dict | bytes, path: str = "/translate") -> tuple[int, dict, Message]:
        """-> (status, JSON answer, headers); a 4xx or 5xx is returned, not raised."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as r:
                return r.status, json.loads(r.read()), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
