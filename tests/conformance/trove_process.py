"""Starting `trove serve` on an ephemeral loopback port and running `trove admin` commands."""

import os
import re
import selectors
import subprocess
import time

LISTENING_LINE = re.compile(r"^listening on (http://127\.0\.0\.1:(\d+))$")
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10


class TroveError(Exception):
    """A `trove` command failed or printed something other than cli.md describes."""


def trove_environment(data_dir):
    """Return the environment for a `trove` child: no inherited TROVE_* settings, our data dir."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("TROVE_")}
    environment["TROVE_DATA_DIR"] = str(data_dir)
    environment.setdefault("RUST_LOG", "info")
    return environment


def run_admin(trove_bin, data_dir, *arguments):
    """Run `trove admin ARGUMENTS...` against `data_dir` and return its standard output."""
    command = [trove_bin, "admin", *arguments]
    completed = subprocess.run(
        command,
        env=trove_environment(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise TroveError(
            f"`{' '.join(command)}` exited with {completed.returncode}: {completed.stderr.strip()[-500:]}"
        )
    return completed.stdout


def serve_supports(trove_bin, option):
    """Tell whether `trove serve --help` lists `option`, for options docs/cli.md does not name."""
    completed = subprocess.run([trove_bin, "serve", "--help"], capture_output=True, text=True, timeout=60,
                               check=False)
    return re.search(rf"(^|\s){re.escape(option)}\b", completed.stdout) is not None


class TroveServer:
    """One `trove serve --addr 127.0.0.1:0` process with its own data directory and log file."""

    def __init__(self, trove_bin, data_dir, log_path, extra_arguments=()):
        self.trove_bin = trove_bin
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_arguments = list(extra_arguments)
        self.process = None
        self.origin = None
        self.first_stdout_line = None
        self.extra_stdout = ""

    def start(self):
        """Start the server and wait for its `listening on http://...` line."""
        command = [
            self.trove_bin, "serve",
            "--addr", "127.0.0.1:0",
            "--data-dir", str(self.data_dir),
            *self.extra_arguments,
        ]
        self._log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command,
            env=trove_environment(self.data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
        )
        line = self._read_first_line()
        self.first_stdout_line = line
        match = LISTENING_LINE.match(line)
        if not match:
            self.stop()
            raise TroveError(f"expected `listening on http://127.0.0.1:PORT` on stdout, got {line!r}")
        self.origin = match.group(1)

    def _read_first_line(self):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        collected = b""
        while b"\n" not in collected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise TroveError(
                    f"no stdout line within {STARTUP_TIMEOUT_SECONDS} s; see the log {self.log_path}"
                )
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                code = self.process.wait()
                raise TroveError(f"server exited with {code} before listening; see the log {self.log_path}")
            collected += chunk
        selector.close()
        line, _, rest = collected.partition(b"\n")
        self.extra_stdout = rest.decode("utf-8", "replace")
        return line.decode("utf-8", "replace").rstrip("\r")

    @property
    def api_base(self):
        """The API base URL with the default `/v1.7/` prefix and a trailing slash."""
        return self.origin + "/v1.7/"

    @property
    def onboard_base(self):
        return self.origin + "/apps/saas/"

    def read_log(self):
        with open(self.log_path, "rb") as log:
            return log.read().decode("utf-8", "replace")

    def stop(self):
        """Stop the server with SIGTERM (SIGKILL after a timeout) and collect any further stdout."""
        if self.process is None:
            return
        if self.process.poll() is not None:
            self._log_file.close()
            return
        self.process.terminate()
        try:
            remaining_stdout, _ = self.process.communicate(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            remaining_stdout, _ = self.process.communicate()
        self.extra_stdout += (remaining_stdout or b"").decode("utf-8", "replace")
        self._log_file.close()
