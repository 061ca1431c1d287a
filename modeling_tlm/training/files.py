"""Writing the small JSON files a run leaves (results, progress, its fingerprint), so that a reader never sees half
of one and a kill never leaves one."""

import json
import os
from pathlib import Path


def write_json(path: str | os.PathLike, data) -> Path:
    """`data` as indented, key-sorted JSON at `path` (folders made as needed), written to a temporary file and
    renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path
