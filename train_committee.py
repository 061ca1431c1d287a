#!/usr/bin/env python
"""Train a soft committee of TLMs end to end: pre-train each member, fine-tune each, assemble, evaluate.

    # three BERT-1 members pre-trained independently (seeds 1, 2, 3) on Wikipedia, fine-tuned on AG News
    python train_committee.py --output_dir runs/committee --task_name ag_news --data_dir ../shared/data \
        --member_presets bert-1 bert-1 bert-1 --pretrain_seeds 1 2 3 \
        --mlm_args "--max_steps 2000 --learning_rate 5e-4" --cls_args "--num_train_epochs 5"
    # members from existing pre-trained (MLM) checkpoints
    python train_committee.py --output_dir runs/committee --task_name ag_news --pretrained runs/a runs/b runs/c

Each member is pre-trained with train_mlm.py (unless --pretrained gives its checkpoint) and fine-tuned with
train_cls.py, in <output_dir>/member-<i>/{mlm,cls}; a step whose results.json exists is not run again. Every member
is fine-tuned with the same --seed, which also draws the task's train/validation/test sample, so all members and the
committee are tested on the same examples; the members differ by their independent pre-training. The committee is
saved in <output_dir>/committee and its test accuracy, with each member's, goes to <output_dir>/results.json.
"""

import json
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

from transformers import AutoTokenizer, HfArgumentParser

from modeling_tlm.committee import assemble, evaluate
from modeling_tlm.configuration_committee import COMBINE_MODES
from modeling_tlm.training import (
    CLS_DEFAULTS,
    MLM_DEFAULTS,
    ArgumentError,
    ClassificationDataArguments,
    ClassificationModelArguments,
    MLMDataArguments,
    ModelArguments,
    TLMTrainingArguments,
    parse_args,
)
from modeling_tlm.training.checks import check_checkpoint_folder, check_presets
from modeling_tlm.training.files import write_json
from modeling_tlm.training.commands import run_cli

REPO_ROOT = Path(__file__).resolve().parent


@dataclass
class TrainCommitteeArguments:
    output_dir: str = field(metadata={"help": "folder for the members, the committee and results.json"})
    task_name: str = field(default="ag_news", metadata={"help": "classification task of train_cls.py"})
    data_dir: str | None = field(default=None, metadata={"help": "local data folder (like ../shared/data)"})
    member_presets: list[str] = field(
        default_factory=lambda: ["bert-1"] * 3, metadata={"help": "one preset per member to pre-train (BERT-1 variants)"}
    )
    config_overrides: str | None = field(
        default=None, metadata={"help": "train_mlm.py --config_overrides for every member, e.g. 'hidden_size=256'"}
    )
    pretrain_seeds: list[int] = field(
        default_factory=lambda: [1, 2, 3], metadata={"help": "one pre-training seed per member"}
    )
    pretrained: list[str] = field(
        default_factory=list, metadata={"help": "existing pre-trained (MLM) checkpoints, one per member: no pre-training"}
    )
    seed: int = field(default=42, metadata={"help": "fine-tuning seed of every member (it also draws the data sample)"})
    combine: str = field(default="soft", metadata={"help": "how the committee combines", "choices": list(COMBINE_MODES)})
    mlm_args: str = field(default="", metadata={"help": "more train_mlm.py arguments, one string"})
    cls_args: str = field(default="", metadata={"help": "more train_cls.py arguments, one string"})


def check_arguments(args: TrainCommitteeArguments) -> int:
    """The number of members; every inconsistency is an error before anything runs."""
    for flag in ("--output_dir", "--seed", "--model_name_or_path", "--model_preset", "--task_name", "--data_dir"):
        for name, extra in (("--mlm_args", args.mlm_args), ("--cls_args", args.cls_args)):
            if any(token == flag or token.startswith(flag + "=") for token in shlex.split(extra)):
                raise ArgumentError(f"{name} must not set {flag}: train_committee.py sets it per member")
    if args.pretrained:
        for path in args.pretrained:
            check_checkpoint_folder(path, "--pretrained")
        return len(args.pretrained)
    check_presets("--member_presets", args.member_presets)
    if len(args.pretrain_seeds) != len(args.member_presets):
        raise ArgumentError(f"--pretrain_seeds gives {len(args.pretrain_seeds)} seeds for {len(args.member_presets)} "
                         "--member_presets: give one per member")
    if len(set(zip(args.member_presets, args.pretrain_seeds))) < len(args.member_presets):
        raise ArgumentError("--member_presets/--pretrain_seeds: two members have the same preset and seed (identical)")
    return len(args.member_presets)


class Step(NamedTuple):
    """One run of a training script for one member."""

    script: str  # train_mlm.py or train_cls.py
    args: list[str]  # its arguments, --output_dir excepted
    output_dir: Path


class MemberSteps(NamedTuple):
    pretrain: Step | None  # None: an existing pre-trained checkpoint (--pretrained)
    finetune: Step
    pretrained: str  # the checkpoint the fine-tuning starts from


def member_steps(args: TrainCommitteeArguments, i: int, output_dir: Path) -> MemberSteps:
    """The pre-training (unless --pretrained gives the checkpoint) and fine-tuning of member i."""
    member_dir = output_dir / f"member-{i}"
    data = ["--data_dir", args.data_dir] if args.data_dir else []
    pretrain = None
    if args.pretrained:
        pretrained = args.pretrained[i]
    else:
        pretrained = str(member_dir / "mlm")
        overrides = ["--config_overrides", args.config_overrides] if args.config_overrides else []
        pretrain = Step("train_mlm.py", ["--model_preset", args.member_presets[i], *overrides, "--dataset_name",
                                         "wikipedia", *data, "--seed", str(args.pretrain_seeds[i]),
                                         *shlex.split(args.mlm_args)], member_dir / "mlm")
    finetune = Step("train_cls.py", ["--model_name_or_path", pretrained, "--task_name", args.task_name, *data,
                                     "--seed", str(args.seed), *shlex.split(args.cls_args)], member_dir / "cls")
    return MemberSteps(pretrain, finetune, pretrained)


def check_step_arguments(steps) -> None:
    """Parse every train_mlm.py / train_cls.py command line as the script will, so that a typo in --mlm_args or
    --cls_args fails now rather than after the first member's pre-training."""
    parsers = {
        "train_mlm.py": ((ModelArguments, MLMDataArguments, TLMTrainingArguments), MLM_DEFAULTS, "--mlm_args"),
        "train_cls.py": ((ClassificationModelArguments, ClassificationDataArguments, TLMTrainingArguments), CLS_DEFAULTS,
                         "--cls_args"),
    }
    for script, step_args, output_dir in (s for member in steps for s in (member.pretrain, member.finetune) if s):
        types, defaults, flag = parsers[script]
        try:
            parse_args(types, defaults, [*step_args, "--output_dir", str(output_dir)])
        except (ValueError, SystemExit) as e:
            raise ArgumentError(f"{flag}: {script} rejects its arguments {shlex.join(step_args)}: {e}") from None


def run_step(script: str, step_args: list[str], output_dir: Path, log: list) -> dict:
    """Run train_mlm.py / train_cls.py into output_dir unless its results.json exists; returns that results.json."""
    results = output_dir / "results.json"
    command = [sys.executable, str(REPO_ROOT / script), *step_args, "--output_dir", str(output_dir)]
    log.append(shlex.join(command))
    if not results.exists():
        print(f"\n$ {shlex.join(command)}", flush=True)
        subprocess.run(command, check=True)
    return json.loads(results.read_text())


def test_split(cls_results: list[dict], tokenizer):
    """The tokenized test split the members were tested on, rebuilt from their recorded arguments (train_cls.py's
    own loader), after checking that every member used the same data and seed."""
    from modeling_tlm.training.data import load_classification_data

    names = {f.name for f in fields(ClassificationDataArguments)}
    data = [({k: v for k, v in r["arguments"].items() if k in names}, r["seed"]) for r in cls_results]
    for index, member_data in enumerate(data[1:], start=1):
        if member_data != data[0]:
            diff = {k: (v, data[0][0].get(k)) for k, v in member_data[0].items() if v != data[0][0].get(k)}
            raise ArgumentError(f"member {index} was fine-tuned on other data than member 0: {diff or 'seed differs'}")
    data_args, seed = ClassificationDataArguments(**data[0][0]), data[0][1]
    return load_classification_data(data_args, tokenizer, seed)[1]["test"]


def main(argv: list[str] | None = None) -> dict:
    started = time.time()
    (args,) = HfArgumentParser(TrainCommitteeArguments).parse_args_into_dataclasses(args=argv)
    num_members = check_arguments(args)
    output_dir = Path(args.output_dir)
    steps = [member_steps(args, i, output_dir) for i in range(num_members)]
    check_step_arguments(steps)
    commands, members = [], []
    for member in steps:
        mlm = run_step(*member.pretrain, commands) if member.pretrain else None
        cls = run_step(*member.finetune, commands)
        members.append(dict(checkpoint=str(member.finetune.output_dir), pretrained=member.pretrained, cls=cls, mlm=mlm))

    committee = assemble([m["checkpoint"] for m in members], str(output_dir / "committee"), args.combine)
    tokenizer = AutoTokenizer.from_pretrained(output_dir / "committee")
    test = test_split([m["cls"] for m in members], tokenizer)
    batch_size = members[0]["cls"]["arguments"]["per_device_eval_batch_size"]
    metrics = evaluate(committee, test, tokenizer, batch_size)
    for index, (member, accuracy) in enumerate(zip(members, metrics["member_accuracy"])):
        # The same examples in the same batches as train_cls.py's own test: the accuracies must agree.
        if abs(accuracy - member["cls"]["test_accuracy"]) > 1.5 / metrics["examples"]:
            raise RuntimeError(f"member {index}: test accuracy {accuracy:.4f} here but {member['cls']['test_accuracy']:.4f} "
                               "in its results.json: the test split or the model differs")

    results = {
        "script": "train_committee.py",
        "command": shlex.join(["python", "train_committee.py", *(sys.argv[1:] if argv is None else argv)]),
        "arguments": asdict(args),
        "task": args.task_name,
        "committee": str(output_dir / "committee"),
        "combine": args.combine,
        "test_examples": metrics["examples"],
        "committee_test_accuracy": metrics["committee_accuracy"],
        "best_member_test_accuracy": metrics["best_member_accuracy"],
        "committee_minus_best_member": metrics["committee_minus_best_member"],
        "test_accuracy_by_combine_mode": metrics["accuracy_by_combine_mode"],
        "members": [
            dict(checkpoint=m["checkpoint"], pretrained=m["pretrained"], test_accuracy=accuracy,
                 preset=None if args.pretrained else args.member_presets[i],
                 pretrain_seed=None if args.pretrained else args.pretrain_seeds[i],
                 mlm_eval_loss=((m["mlm"] or {}).get("eval") or {}).get("eval_loss"))
            for i, (m, accuracy) in enumerate(zip(members, metrics["member_accuracy"]))
        ],
        "steps": commands,
        "runtime_seconds": round(time.time() - started, 1),
    }
    write_json(output_dir / "results.json", results)
    print(json.dumps({k: results[k] for k in ("committee_test_accuracy", "best_member_test_accuracy",
                                              "committee_minus_best_member", "test_accuracy_by_combine_mode")}, indent=1))
    return results


if __name__ == "__main__":
    run_cli(main)
