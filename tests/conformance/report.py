"""Check bookkeeping: one output line per check and the closing tally."""

import os
import sys
import traceback


class CheckFailure(Exception):
    """The server's behaviour differs from what the digi.me SDKs or Trove's wire contract require."""


class Skip(Exception):
    """The check does not apply to this server, for example an unimplemented route."""


class Blocked(Exception):
    """The check needs a value that an earlier check failed to produce."""


def expect(condition, message):
    """Raise CheckFailure with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailure(message)


def need(value, what):
    """Return `value`, or raise Blocked when an earlier check left it unset."""
    if value is None:
        raise Blocked(f"needs {what}, which an earlier check did not produce")
    return value


def _one_line(text):
    return " ".join(str(text).split())


def _innermost_location(error):
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f" (at {os.path.basename(frame.filename)}:{frame.lineno})"


class Report:
    """Runs checks, prints `ok`/`FAIL`/`skip` lines and counts the outcomes."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, name, function, *args, **kwargs):
        """Run one check and return its result, or None when it failed or was skipped."""
        try:
            result = function(*args, **kwargs)
        except (Skip, Blocked) as reason:
            self.skipped += 1
            self._emit(f"skip {name}: {_one_line(reason)}")
            return None
        except CheckFailure as failure:
            self.failed += 1
            self._emit(f"FAIL {name}: {_one_line(failure)}")
            return None
        except Exception as error:  # noqa: BLE001 - any other error also fails this check only
            self.failed += 1
            detail = _one_line(f"{type(error).__name__}: {error}")
            self._emit(f"FAIL {name}: {detail}{_innermost_location(error)}")
            return None
        self.passed += 1
        self._emit(f"ok   {name}")
        return result

    def fail(self, name, message):
        """Record a failure found outside a check function, such as a server that never started."""
        self.failed += 1
        self._emit(f"FAIL {name}: {_one_line(message)}")

    def closing_line(self):
        line = f"{self.passed} passed, {self.failed} failed"
        if self.skipped:
            line += f", {self.skipped} skipped"
        return line

    def _emit(self, line):
        print(line, file=self.stream, flush=True)
