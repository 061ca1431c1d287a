"""transformers' own common test mixins (`ModelTesterMixin`, `ConfigTester`), from the source distribution of the
installed transformers, importable without editing sys.path.

The sdist (`pip download transformers==<installed> --no-binary :all: --no-deps`) ships `tests/test_modeling_common.py`
and `tests/test_configuration_common.py` but not three helper modules they import. They are provided here as
stand-ins, each for a stated reason:
- `exporters.test_export.ExportTesterMixin`, the base class of `ModelTesterMixin`: empty, so its export tests do not
  run from here; `tests/test_transformers_contract.py` exports TLM with torch.export, ONNX and TorchScript itself.
- `generation.test_utils.GenerationTesterMixin`: only read in an `issubclass` check; TLM is an encoder, it does not
  generate.
- `utils.test_configuration_utils.config_common_kwargs`: the table that `ConfigTester.check_config_arguments_init`
  reads; without it that one check is left out (`tests/test_transformers_common.py` says so).

The extracted tests live in a cache folder (TLM_TRANSFORMERS_TESTS, default ~/.cache/modeling_tlm/); without it and
without access to the package index, `load()` returns the reason, and the test module skips saying so.
"""

import importlib
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import transformers

PACKAGE = "transformers_common_tests"
FILES = ("test_modeling_common.py", "test_configuration_common.py")
STAND_INS = {
    "exporters/test_export.py": "class ExportTesterMixin:\n    pass\n",
    "generation/test_utils.py": "class GenerationTesterMixin:\n    pass\n",
    "utils/test_configuration_utils.py": "config_common_kwargs = None  # not in the sdist: the check using it is left out\n",
}


def cache_folder() -> Path:
    default = Path.home() / ".cache" / "modeling_tlm"
    return Path(os.environ.get("TLM_TRANSFORMERS_TESTS", default)) / f"transformers-{transformers.__version__}-tests"


def _download_and_extract(target: Path) -> None:
    version = transformers.__version__
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"transformers=={version}", "--no-binary", ":all:", "--no-deps",
             "-q", "-d", tmp], capture_output=True, text=True, timeout=300)
        archives = list(Path(tmp).glob("transformers-*.tar.gz"))
        if done.returncode or not archives:
            raise RuntimeError(f"pip download transformers=={version} (sdist) failed: "
                               f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archives[0]) as archive:
            for name in FILES:
                member = archive.getmember(f"transformers-{version}/tests/{name}")
                (target / name).write_bytes(archive.extractfile(member).read())
    for relative, text in STAND_INS.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        (path.parent / "__init__.py").write_text("")
    (target / "__init__.py").write_text("")


def load():
    """-> (test_modeling_common module, test_configuration_common module), or a str saying why they are missing."""
    folder = cache_folder()
    if not all((folder / name).is_file() for name in FILES):
        try:
            _download_and_extract(folder)
        except (RuntimeError, OSError, subprocess.SubprocessError, KeyError, tarfile.TarError) as e:
            return f"transformers' common model tests are not available offline or without the sdist: {e}"
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    return (importlib.import_module(f"{PACKAGE}.test_modeling_common"),
            importlib.import_module(f"{PACKAGE}.test_configuration_common"))
