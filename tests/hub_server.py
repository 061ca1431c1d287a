"""A Hub-compatible server on localhost for push/pull tests (test infrastructure, not part of the package).

olah (pinned in setup.cfg's dev extra; we use its FastAPI app) serves repositories from local git "mirror" folders
with the Hub's read API: repo info, file listings, ``resolve`` downloads. It has no write side, so ``build_app`` puts a
small FastAPI app in front of it that answers exactly what ``huggingface_hub`` calls to push:

- ``GET  /api/whoami-v2``
- ``POST /api/repos/create``           -> ``git init`` a mirror repo with an initial commit (so ``main`` exists)
- ``POST /api/validate-yaml``          -> checks the README front matter parses
- ``POST /api/{type}s/{ns}/{name}/preupload/{rev}`` -> every file is "regular", so the client sends contents inline
- ``POST /api/{type}s/{ns}/{name}/commit/{rev}``    -> decode the NDJSON commit and ``git commit`` it

and two read-side fixes for what olah gets wrong offline: repo info without a revision answers for ``main``, and a
path missing from a revision (``resolve``, ``tree``) gets 404 ``EntryNotFound`` instead of 401 ``RepoNotFound`` (which
makes transformers fail on optional files such as ``README.md``, ``adapter_config.json``, chat templates).

One fixed fake token is accepted (``TOKEN``); any other bearer token gets 401 on every route, and writes need it.
Repos live in ``ROOT/mirrors/{models,datasets,spaces}/{namespace}/{name}`` (olah's mirror layout).

Use from pytest through the session fixture ``local_hub`` (re-exported in tests/conftest.py)::

    def test_roundtrip(local_hub, monkeypatch, tmp_path):
        local_hub.activate(monkeypatch)  # this process's huggingface_hub/transformers now talk to the hub
        model.push_to_hub("test-user/tiny", token=local_hub.token)
        # a fresh interpreter with env() (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE=0, ...), the package made unimportable
        local_hub.run_python("from transformers import AutoModel; AutoModel.from_pretrained('test-user/tiny', "
                             "trust_remote_code=True)", cwd=tmp_path, without_package=True)

``huggingface_hub`` reads ``HF_ENDPOINT``/``HF_HUB_OFFLINE``/``HF_HUB_DISABLE_XET`` once, at import, into
``huggingface_hub.constants``: setting the environment variables inside a running test is not enough. Subprocesses
get them through ``env()``; the test process itself through ``activate(monkeypatch)``, which patches those constants
(and the HfApi instances created at import) for the duration of one test.

Manual use: ``python tests/hub_server.py --port 8090 --root /tmp/hub`` then ``HF_ENDPOINT=http://127.0.0.1:8090
HF_TOKEN=hf_test_token HF_HUB_DISABLE_XET=1 python ...``.
"""

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

TOKEN = "hf_test_token"
USER = "test-user"
# Where a client names a path inside a repo revision: downloads ({endpoint}/[datasets/|spaces/]{ns}/{name}/resolve/...)
# and folder listings (/api/{type}/{ns}/{name}/tree/...).
_ENTRY_URLS = [
    re.compile(r"^/(?:(?P<type>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$"),
    re.compile(r"^/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
               r"/tree/(?P<rev>[^/]+)/(?P<file>.+)$"),
]
_REPO_INFO = re.compile(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)$")  # GET/HEAD: repo info of main
REPO_TYPES = {"model": "models", "dataset": "datasets", "space": "spaces"}  # payload "type" -> URL/mirror folder

# Git runs hermetically: no user/system config (autocrlf, hooks, lfs filters) can alter what is committed.
_GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": USER,
    "GIT_AUTHOR_EMAIL": f"{USER}@localhost",
    "GIT_COMMITTER_NAME": USER,
    "GIT_COMMITTER_EMAIL": f"{USER}@localhost",
}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=_GIT_ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def _missing(repo: Path, rev: str, file: str) -> tuple[str, str] | None:
    """(X-Error-Code, message) when ``file`` (blob or folder) or ``rev`` itself is not in the git repo, else None."""
    try:
        _git(repo, "cat-file", "-e", f"{rev}:{file.strip('/')}")
        return None
    except subprocess.CalledProcessError:
        pass
    try:
        _git(repo, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        return "RevisionNotFound", f"Invalid rev id: {rev}"
    return "EntryNotFound", f"{file} does not exist on {rev!r}"


def build_app(root: str | os.PathLike, host: str = "127.0.0.1", port: int = 8090):
    """The shim app (write side) mounted over olah's app (read side), serving the repos under ``root``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from olah.configs import OlahConfig
    from olah.server import AppSettings
    from olah.server import app as olah_app

    root = Path(root)
    mirrors = root / "mirrors"
    mirrors.mkdir(parents=True, exist_ok=True)

    # olah: offline (never contact huggingface.co), repositories from our mirror folder. Its app is a module-level
    # singleton, so there is one such server per process.
    config = OlahConfig()
    config.offline = True
    config.mirrors_path = [str(mirrors)]
    config.repos_path = str(root / "olah-cache")
    config.host, config.port = host, port
    config.mirror_netloc = config.mirror_lfs_netloc = f"{host}:{port}"
    olah_app.state.app_settings = AppSettings(config=config)

    app = FastAPI()
    write_lock = threading.Lock()  # one writer at a time: commits run in FastAPI's thread pool

    def error(status: int, code: str, message: str) -> JSONResponse:
        # huggingface_hub turns X-Error-Code into RepositoryNotFoundError, EntryNotFoundError, ...
        return JSONResponse({"error": message}, status, headers={"X-Error-Code": code, "X-Error-Message": message})

    @app.middleware("http")
    async def front_door(request: Request, call_next):
        # Reads need no token (public repos), but a wrong token is refused everywhere, as on the Hub.
        auth = request.headers.get("authorization")
        if auth is not None and auth != f"Bearer {TOKEN}":
            return error(401, "Unauthorized", "Invalid credentials in Authorization header")
        writing = request.method == "POST" and "/paths-info/" not in request.url.path
        if writing and auth is None:
            return error(401, "Unauthorized", "A write token is required")
        # Read side, repo info without a revision: olah offline looks the latest commit up in its download cache,
        # not in the mirror, and answers "not found"; ask it for `main` instead.
        match = _REPO_INFO.match(request.url.path)
        if match and request.method in ("GET", "HEAD") and repo_dir(*match.groups()).exists():
            request.scope["path"] += "/revision/main"
        # Read side, a path missing from a revision: the Hub says 404 EntryNotFound (or RevisionNotFound), which
        # clients take as "optional file absent"; olah offline says 401 RepoNotFound, which makes transformers fail.
        for pattern in _ENTRY_URLS:
            match = pattern.match(request.url.path)
            if match and (path := repo_dir(match["type"] or "models", match["ns"], match["name"])).exists():
                if missing := _missing(path, match["rev"], match["file"]):
                    return error(404, *missing)
        return await call_next(request)

    def repo_dir(repo_type: str, namespace: str, name: str) -> Path:
        return mirrors / repo_type / namespace / name

    def repo_url(request: Request, repo_type: str, repo_id: str) -> str:
        prefix = "" if repo_type == "models" else f"{repo_type}/"
        return f"{str(request.base_url).rstrip('/')}/{prefix}{repo_id}"

    @app.get("/api/whoami-v2")
    def whoami(request: Request):
        if request.headers.get("authorization") is None:
            return error(401, "Unauthorized", "Invalid user token")
        return {"type": "user", "name": USER, "fullname": "Test User", "email": None, "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}}

    @app.post("/api/repos/create")
    async def create_repo(request: Request):
        payload = await request.json()
        repo_type = REPO_TYPES.get(payload.get("type") or "model")
        namespace, name = payload.get("organization") or USER, payload["name"]
        path = repo_dir(repo_type, namespace, name)
        url = repo_url(request, repo_type, f"{namespace}/{name}")
        with write_lock:
            if path.exists():
                return JSONResponse({"error": "You already created this repo", "url": url}, 409)
            path.mkdir(parents=True)
            _git(path, "init", "-q", "-b", "main")
            # The Hub's first commit holds a .gitattributes; the repo then has a `main` that olah can resolve.
            (path / ".gitattributes").write_text("# test hub: every file is stored as a regular git blob\n")
            _git(path, "add", "-A")
            _git(path, "commit", "-q", "-m", "initial commit")
        return {"url": url, "name": f"{namespace}/{name}"}

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request):
        import yaml

        content = (await request.json()).get("content", "")
        if content.startswith("---"):
            try:
                yaml.safe_load(content.split("---")[1])
            except yaml.YAMLError as exc:
                return JSONResponse({"errors": [{"message": str(exc)}], "warnings": []}, 400)
        return {"errors": [], "warnings": []}

    @app.post("/api/{repo_type}/{namespace}/{name}/preupload/{revision}")
    async def preupload(repo_type: str, namespace: str, name: str, revision: str, request: Request):
        if not repo_dir(repo_type, namespace, name).exists():
            return error(404, "RepoNotFound", "Repository not found")
        files = (await request.json())["files"]
        return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                          for f in files]}

    @app.post("/api/{repo_type}/{namespace}/{name}/commit/{revision}")
    async def commit(repo_type: str, namespace: str, name: str, revision: str, request: Request):
        path = repo_dir(repo_type, namespace, name)
        if not path.exists():
            return error(404, "RepoNotFound", "Repository not found")
        if revision != "main" or request.query_params.get("create_pr"):
            return error(400, "BadRequest", "the test hub commits to `main` only (no branches, no PRs)")
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        with write_lock:
            if header.get("parentCommit") and not _git(path, "rev-parse", "HEAD").startswith(header["parentCommit"]):
                return error(412, "PreconditionFailed", "parent commit is not the head of main")
            for item in lines:
                key, value = item["key"], item["value"]
                if key == "header":
                    continue
                rel = PurePosixPath(value["path"])
                if rel.is_absolute() or ".." in rel.parts or rel.parts[:1] == (".git",):
                    return error(400, "BadRequest", f"invalid path {value['path']!r}")
                target = path / rel
                if key == "file":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(value["content"]))
                elif key in ("deletedFile", "deletedFolder"):
                    if not target.exists():
                        return error(404, "EntryNotFound", "A file with this name doesn't exist")
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
                else:  # "lfsFile": never requested, since preupload says every file is regular
                    return error(400, "BadRequest", f"unsupported commit operation {key!r}")
            _git(path, "add", "-A")
            message = [header["summary"]] + ([header["description"]] if header.get("description") else [])
            _git(path, "commit", "-q", "--allow-empty", *[arg for m in message for arg in ("-m", m)])
            sha = _git(path, "rev-parse", "HEAD")
        url = repo_url(request, repo_type, f"{namespace}/{name}")
        return {"success": True, "commitOid": sha, "commitUrl": f"{url}/commit/{sha}", "pullRequestUrl": None}

    app.mount("/", olah_app)  # everything not matched above is olah's
    return app


@dataclass
class LocalHub:
    """A running test hub: where it is, the token it accepts, and the environment that points a client at it."""

    endpoint: str
    root: Path
    token: str = TOKEN
    _server: object = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def env(self, **extra: str) -> dict[str, str]:
        """A full environment for a subprocess that pushes to / pulls from this hub (HF_HUB_OFFLINE turned off).

        The subprocess downloads into ``ROOT/hf-cache``, never the user's Hugging Face cache.
        """
        return {
            **os.environ,
            "HF_ENDPOINT": self.endpoint,
            "HF_TOKEN": self.token,
            "HF_HUB_DISABLE_XET": "1",  # the server speaks the plain HTTP API only
            "HF_HUB_OFFLINE": "0",  # tests/conftest.py sets it to 1 for everything else
            "TRANSFORMERS_OFFLINE": "0",
            "HF_HUB_CACHE": str(self.root / "hf-cache"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            **extra,
        }

    def activate(self, monkeypatch) -> None:
        """Point this process's huggingface_hub/transformers at the hub for one test (``monkeypatch`` undoes it).

        The environment variables alone do nothing here: huggingface_hub copied them into ``constants`` at import
        time, and HfApi objects (huggingface_hub's module-level ``api``, transformers' cached ``hf_api()``) copied
        the endpoint when created.
        """
        import huggingface_hub.constants as constants
        import huggingface_hub.hf_api

        for name, value in self.env().items():
            if name.startswith(("HF_", "TRANSFORMERS_")):
                monkeypatch.setenv(name, value)
        monkeypatch.setattr(constants, "ENDPOINT", self.endpoint)
        template = self.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(self.root / "hf-cache"))  # not the user's cache
        monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", self.endpoint)
        try:
            import transformers.utils.hub

            monkeypatch.setattr(transformers.utils.hub, "_hf_api", None)  # rebuilt on next use, with our endpoint
        except ImportError:
            pass

    def run_python(self, code: str, cwd, without_package: bool = False, timeout: float = 300) -> str:
        """Run ``code`` in a fresh interpreter pointed at this hub and return its stdout; raise on failure.

        ``without_package=True`` runs it where ``modeling_tlm`` cannot be imported (tests/isolation.py), to show a
        repo loads with ``trust_remote_code=True`` alone.
        """
        if without_package:
            from tests.isolation import run_without_package

            return run_without_package(code, env=self.env(), timeout=timeout).stdout
        proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-5000:]}")
        return proc.stdout

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)


def start_hub(root: str | os.PathLike, host: str = "127.0.0.1", port: int = 0) -> LocalHub:
    """Start the hub with uvicorn in a daemon thread; port 0 picks a free port. Returns once it accepts requests."""
    import uvicorn

    # Bind the socket ourselves and hand it to uvicorn: the free port is known before the app is built and cannot
    # be taken by someone else in between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(root, host, port), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="local-hub", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local test hub did not start")
        time.sleep(0.05)
    return LocalHub(endpoint=f"http://{host}:{port}", root=Path(root), _server=server, _thread=thread)


try:
    import pytest
except ImportError:  # the manual entry point needs no pytest
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def local_hub(tmp_path_factory):
        """A Hub-compatible server on a free localhost port, for the whole session; see the module docstring."""
        hub = start_hub(tmp_path_factory.mktemp("local_hub"))
        yield hub
        hub.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Hub-compatible test server (olah + a write shim).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--root", required=True, help="folder for the git repositories (created if missing)")
    args = parser.parse_args()
    import uvicorn

    print(f"HF_ENDPOINT=http://{args.host}:{args.port} HF_TOKEN={TOKEN} HF_HUB_DISABLE_XET=1")
    uvicorn.run(build_app(args.root, args.host, args.port), host=args.host, port=args.port, log_level="info")
