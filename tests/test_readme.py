"""The docs stay true: the preset table is what `python -m modeling_tlm.preset_table` prints, every command shown in
README.md and docs/ is accepted by its parser, and no committed document or result names the folders of the machine
it was made on."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from modeling_tlm.preset_table import preset_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```bash\n(.*?)```", re.S)
INLINE = re.compile(r"`(python [^`]+)`")  # a command quoted in prose, possibly wrapped over lines
# Lines of the bash blocks that are set-up, not commands of this project: installing, the venv, the test run itself.
SET_UP = (("pip",), ("python3", "-m", "venv"), (".",), ("export",), ("python", "-m", "pytest"))
# An absolute path: a slash after a space, quote, bracket or '=' (not '://', not 'tokens/s'), then two components.
ABSOLUTE_PATH = re.compile(r"""(?:^|(?<=[\s"'`(=\[,]))(/[A-Za-z0-9._-]+/[A-Za-z0-9._/-]*)""", re.M)


def documented_commands(path: Path) -> list[list[str]]:
    """The shell commands of a Markdown file: each line of its bash blocks (continuations joined, `&&` split,
    `VAR="..."` assignments expanded where `$VAR` is used, environment prefixes dropped) and each `python ...`
    quoted in its prose."""
    text = path.read_text(encoding="utf-8")
    commands = []
    for block in FENCE.findall(text):
        variables: dict[str, str] = {}
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("#"):
                continue
            for part in line.split(" # ")[0].split("&&"):
                part = part.strip()
                if assignment := re.fullmatch(r'([A-Z_]+)="(.*)"', part):
                    variables[assignment[1]] = assignment[2]
                    continue
                words = shlex.split(re.sub(r"\$([A-Z_]+)", lambda m: variables.get(m[1], m[0]), part))
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                    words = words[1:]
                if words and not any(tuple(words[:len(s)]) == s for s in SET_UP):
                    commands.append(words)
    commands += [shlex.split(" ".join(span.split())) for span in INLINE.findall(FENCE.sub("", text))]
    return commands


def python_argv(words: list[str]) -> list[str]:
    """`python X.py ...` / `python -m M ...` / `accelerate launch [flags] X.py ...` -> the argv after `python`."""
    if words[0] == "accelerate":
        script = next(i for i, w in enumerate(words) if w.endswith(".py"))
        return words[script:]
    assert words[0] == "python", f"not a python command: {' '.join(words)}"
    return words[1:]


ALL = [(path.relative_to(ROOT).as_posix(), words) for path in DOCS for words in documented_commands(path)]


def test_the_reader_finds_the_commands():
    """The check below means something only if commands are found: the README's main job, quick start and a few
    that only the docs show, with variables expanded."""
    found = {(where, " ".join(words)) for where, words in ALL}
    assert ("README.md", "python train_mlm.py --recipe cpu-budget --data_dir ../shared/data --output_dir "
            "runs/cpu-budget-60m") in found
    assert any(w == "docs/recipe.md" and c.startswith("python train_cls.py --from_scratch") and "--seed 0" in c
               for w, c in found)  # $COMMON expanded
    assert any(w == "docs/speed.md" and c.startswith("python -m benchmarks.pretrain_throughput") for w, c in found)
    assert len(ALL) >= 40


def test_every_documented_command_is_accepted_by_its_parser():
    """Each command runs as far as its argument parsing (tests/parse_only.py): a removed or misspelled flag, a
    value of the wrong type, an unknown recipe or module fails here, not in a reader's shell."""
    argvs = [python_argv(words) for _, words in ALL]
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "parse_only.py")], input=json.dumps(argvs),
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(outcomes) == len(argvs), done.stderr[-2000:]
    bad = [f"{where}: {' '.join(words)}\n  -> {o}" for (where, words), o in zip(ALL, outcomes)
           if o["status"] != "parsed" and not (o["status"] == "not parsed" and words[-1] == "modeling_tlm.preset_table")]
    assert bad == [], "\n".join(bad)


def test_a_bad_flag_in_a_command_is_caught():
    """The parse-only run does reject what a user's shell would: a flag that does not exist."""
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "parse_only.py")],
                          input=json.dumps([["train_mlm.py", "--recipe", "cpu-budget", "--output_dir", "x",
                                             "--overwrite_output_dir"],
                                            ["-m", "experiments.run", "--grid", "no-such-grid"]]),
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    outcomes = [json.loads(line)["status"] for line in done.stdout.splitlines()]
    assert outcomes == ["rejected", "rejected"], done.stdout + done.stderr[-2000:]


def test_preset_table_matches_the_command():
    assert preset_table() in (ROOT / "docs" / "models.md").read_text(), \
        "docs/models.md's preset table is stale: paste `python -m modeling_tlm.preset_table`"


def _committed_texts() -> list[Path]:
    files = [*DOCS, ROOT / "RESULTS.md"]
    return files + sorted(p for p in (ROOT / "results").rglob("*") if p.suffix in (".json", ".md"))


def test_no_absolute_machine_path():
    """Commands and records name folders relative to the repository (`runs/...`, `../shared/data`): the folders of
    the machine a figure was made on mean nothing to anyone else."""
    found = {path.relative_to(ROOT).as_posix(): sorted(set(hits))[:3] for path in _committed_texts()
             if (hits := ABSOLUTE_PATH.findall(path.read_text(encoding="utf-8")))}
    assert found == {}, f"absolute paths in {len(found)} files: {dict(list(found.items())[:5])}"


def test_the_absolute_path_check_sees_one():
    assert ABSOLUTE_PATH.findall('"--data_dir /work/shared/data" and (/home/me/runs/x)') == ["/work/shared/data",
                                                                                           "/home/me/runs/x"]
    assert ABSOLUTE_PATH.findall("https://github.com/a/b, 30 tokens/s, AVX-512/AMX, 1/6 of it") == []
