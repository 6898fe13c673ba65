"""A real hub-compatible server for the tests: PyPI's olah in offline mode on 127.0.0.1, serving git
repositories made from folders of ../shared (`scripts/install.sh` puts olah in `.venv-olah`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_COMMIT_ENV = {"GIT_AUTHOR_NAME": "harness tests", "GIT_AUTHOR_EMAIL": "tests@localhost",
               "GIT_COMMITTER_NAME": "harness tests", "GIT_COMMITTER_EMAIL": "tests@localhost",
               "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}


def olah_command() -> str | None:
    """olah's command: HARNESS_OLAH, else the project's `.venv-olah`, else one on PATH."""
    for candidate in (os.environ.get("HARNESS_OLAH"), ROOT / ".venv-olah" / "bin" / "olah-cli",
                      shutil.which("olah-cli")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def git_repo(source: Path, mirrors: Path, kind: str, repo_id: str) -> str:
    """`source`'s files as the one commit of branch `main` of a git repository at
    `<mirrors>/<kind>/<repo_id>` (olah's layout); returns the commit (the same for the same files)."""
    target = mirrors / kind / repo_id
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*"))
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    env = {**os.environ, **_COMMIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", f"{repo_id} from ../shared"]):
        subprocess.run(["git", *args], cwd=target, env=env, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=target, capture_output=True, text=True,
                          check=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HubServer:
    """olah serving `mirrors` on 127.0.0.1; `start` returns once it listens, `stop` kills it."""

    def __init__(self, mirrors: Path, workdir: Path, port: int | None = None):
        self.mirrors, self.workdir, self.port = mirrors, workdir, port or free_port()
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        for sub in ("repos", "logs", "home"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        config = self.workdir / "olah.toml"
        netloc = f"127.0.0.1:{self.port}"
        config.write_text(f'[basic]\nhost = "127.0.0.1"\nport = {self.port}\nrepos-path = "{self.workdir / "repos"}"\n'
                          f'mirrors-path = ["{self.mirrors}"]\nmirror-scheme = "http"\nmirror-netloc = "{netloc}"\n'
                          f'mirror-lfs-netloc = "{netloc}"\n[accessibility]\noffline = true\n')
        return config

    def start(self, timeout: float = 60) -> HubServer:
        command = olah_command()
        assert command, "olah is not installed (bash scripts/install.sh)"
        env = {**os.environ, "HOME": str(self.workdir / "home")}
        self.process = subprocess.Popen([command, "-c", str(self._config()), "--log-path", str(self.workdir / "logs")],
                                        cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def drain(stream) -> None:  # reads the server's output to its end, so that it never blocks on a pipe
            for line in stream:
                self.output.append(line)
                if "Uvicorn running on" in line:
                    ready.set()
            ready.set()  # the server ended before it listened: the check below says so

        threading.Thread(target=drain, args=(self.process.stdout,), daemon=True).start()
        if not ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"olah did not start on {self.url}:\n{''.join(self.output[-20:])}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
