"""Run Python code in a fresh interpreter where the `modeling_tlm` package is NOT importable.

That is what a Hub user without our package has: `trust_remote_code=True` must then load the model from the code
files inside the checkpoint. The package is installed editable (a .pth hook) and the repository root is usually on
sys.path, so the child starts with `-S -I` (no site hooks, no cwd, no PYTHONPATH) and gets only the site-packages
folders themselves, without their .pth files.
"""

import os
import site
import subprocess
import sys
import tempfile

_PRELUDE = """
import sys
sys.path.extend({paths!r})
try:
    import modeling_tlm
except ImportError:
    pass
else:
    raise SystemExit("modeling_tlm is importable in the isolated interpreter: the test would prove nothing")
"""


def run_without_package(code: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `code` where `import modeling_tlm` fails; raises with the child's output if it exits non-zero."""
    paths = [p for p in site.getsitepackages() if os.path.isdir(p)]
    child_env = {**os.environ, **(env or {})}
    child_env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run(
            [sys.executable, "-S", "-I", "-c", _PRELUDE.format(paths=paths) + code],
            cwd=cwd, env=child_env, capture_output=True, text=True, timeout=timeout,
        )
    if result.returncode != 0:
        raise AssertionError(f"isolated interpreter failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
