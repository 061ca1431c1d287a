"""Run documented commands only as far as their argument parsing, in this one process (tests/test_readme.py).

Reads a JSON list of argv lists (`["train_mlm.py", "--recipe", ...]` or `["-m", "module", ...]`) on stdin and prints
one JSON line per command: {"status": "parsed"} when the command's parser accepted every argument, {"status":
"rejected", "message": ...} when it did not, {"status": "not parsed"} when the command ended without parsing any
arguments. Parsing is cut short by patching argparse (HfArgumentParser is an ArgumentParser): once the command's
parser has read the arguments, a `Parsed` exception ends the command before it does any work.
"""

import argparse
import contextlib
import io
import json
import os
import runpy
import sys


class Parsed(BaseException):  # not an Exception: no handler of the command catches it
    def __init__(self, unknown: list[str]):
        self.unknown = unknown


_parse_known_args = argparse.ArgumentParser.parse_known_args


def _parse_then_stop(self, args=None, namespace=None):
    namespace, unknown = _parse_known_args(self, args, namespace)
    raise Parsed(unknown)


def check(argv: list[str]) -> dict:
    sys.argv = [argv[1] if argv[0] == "-m" else argv[0], *argv[2 if argv[0] == "-m" else 1:]]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            if argv[0] == "-m":
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(argv[0], run_name="__main__")
    except Parsed as parsed:
        if parsed.unknown:
            return {"status": "rejected", "message": f"unrecognized arguments: {parsed.unknown}"}
        return {"status": "parsed"}
    except SystemExit as e:
        if e.code not in (0, None):
            return {"status": "rejected", "message": stderr.getvalue().strip()[-500:] or f"exit {e.code}"}
    except Exception as e:  # e.g. the arguments' own checks (ArgumentError) raised while they were read
        return {"status": "rejected", "message": f"{type(e).__name__}: {e}"}
    return {"status": "not parsed"}


def main() -> None:
    sys.path[0] = os.getcwd()  # as `python -m M` and `python script.py` from the repository's root have it
    argparse.ArgumentParser.parse_known_args = _parse_then_stop
    for argv in json.load(sys.stdin):
        print(json.dumps(check(argv)), flush=True)


if __name__ == "__main__":
    main()
