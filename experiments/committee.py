"""Soft committees of fine-tuned, independently pre-trained members, on the test split their members were tested on.

The members are assembled once with `TLMCommitteeForSequenceClassification.from_members` and evaluated in one pass
per split (`modeling_tlm.committee.member_logits_over`, the path `train_committee.py` uses too) on the same labelled
samples train_cls.py used (its own data loading, same seed); every subset of at least --min_size members is the
combination of its members' logits (--combine; class probabilities averaged by default), exactly what that subset's
own committee computes. Each member alone, and each --references checkpoint (the deep model), is evaluated the same
way, so every accuracy of the comparison comes from one path.

    python -m experiments.committee --members runs/ft-b1 runs/ft-b1-conv2 runs/ft-b1-conv3 --task_name ag_news \
        --data_dir ../shared/data --samples_per_label_train 250 --samples_per_label_test 500 --seed 0 \
        --output_dir runs/committee-ag_news-s0
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modeling_tlm.training.checks import ArgumentError, check_checkpoint_folder
from modeling_tlm.training.commands import run_cli

from .cell_io import classification_metrics, load_data, parse, write_results


@dataclass
class CommitteeEvaluationArguments:
    members: list[str] = field(default_factory=list, metadata={"help": "fine-tuned member checkpoints"})
    min_size: int = field(default=2, metadata={"help": "evaluate every subset of the members at least this large"})
    combine: str = field(default="soft", metadata={"help": "soft | logits | vote"})
    references: list[str] = field(
        default_factory=list,
        metadata={"help": "other fine-tuned checkpoints (the deep model) evaluated alone the same way, so that the "
                          "committee is compared with them through one evaluation path"},
    )


def main(argv: list[str] | None = None) -> dict:
    from modeling_tlm.data import load_tokenizer
    from modeling_tlm.modeling_committee import combine_member_logits

    started = time.time()
    data_args, cell, args = parse(CommitteeEvaluationArguments, argv)
    if len(args.members) < max(args.min_size, 1):
        raise ArgumentError(f"--members lists {len(args.members)} checkpoints; --min_size is {args.min_size}")
    for flag, paths in (("--members", args.members), ("--references", args.references)):
        for path in paths:
            check_checkpoint_folder(path, flag)
    tokenizer = load_tokenizer(args.members[0])  # the members' own (FewRel: with the entity markers)
    task, tokenized = load_data(data_args, cell.seed, tokenizer)
    labels = {split: np.asarray(tokenized[split]["labels"]) for split in ("validation", "test")}

    # One pass per split gives every member's logits (and the references', each a 1-member committee); every
    # committee of a subset combines its members' rows, as its own forward would.
    members_logits = member_logits_by_split(args.members, tokenized, tokenizer, labels)
    references_logits = [member_logits_by_split([p], tokenized, tokenizer, labels) for p in args.references]

    def evaluate(logits_by_split: dict, subset: list[int]) -> dict:
        out = {}
        for split, logits in logits_by_split.items():
            combined = combine_member_logits(logits[subset], args.combine).numpy()  # (examples, C)
            out.update({f"{split}_{k}": v for k, v in classification_metrics(combined, labels[split]).items()})
        return out

    names = [Path(p).name for p in args.members]
    members = [{"index": i, "name": n, **evaluate(members_logits, [i])} for i, n in enumerate(names)]
    references = [{"name": Path(p).name, **evaluate(logits, [0])} for p, logits in zip(args.references, references_logits)]
    committees = []
    for size in range(args.min_size, len(args.members) + 1):
        for subset in itertools.combinations(range(len(args.members)), size):
            metrics = evaluate(members_logits, list(subset))
            committees.append({"members": list(subset), "size": size, **metrics})
            print(f"committee {[names[i] for i in subset]}: test accuracy {metrics['test_accuracy']:.4f}")
    results = {
        "script": "experiments.committee", "task": task.name, "seed": cell.seed, "combine": args.combine,
        "member_paths": args.members, "members": members, "references": references, "committees": committees,
        "data_sizes": {split: len(ds) for split, ds in tokenized.items()},
        "runtime_seconds": round(time.time() - started, 1),
    }
    write_results(cell.output_dir, results)
    return results


def member_logits_by_split(paths: list[str], tokenized, tokenizer, labels: dict) -> dict:
    """{split: (N, examples, C) logits} of the members at `paths` on the validation and test splits (where not empty),
    through the committee's own evaluation pass (`modeling_tlm.committee.member_logits_over`)."""
    from modeling_tlm import TLMCommitteeForSequenceClassification
    from modeling_tlm.committee import member_logits_over

    committee = TLMCommitteeForSequenceClassification.from_members(paths)  # the combine mode is applied by the caller
    out = {}
    for split in ("validation", "test"):
        if len(labels[split]):
            logits, split_labels = member_logits_over(committee, tokenized[split], tokenizer)
            assert np.array_equal(split_labels.numpy(), labels[split])  # the rows in their order
            out[split] = logits
    return out


if __name__ == "__main__":
    run_cli(main)
