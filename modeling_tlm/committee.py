"""Build and evaluate soft committees from fine-tuned TLM classifiers.

    python -m modeling_tlm.committee assemble --members runs/m1 runs/m2 runs/m3 --output_dir runs/committee
    python -m modeling_tlm.committee assemble --members a b c --output_dir d --combine vote --push_to_hub user/repo

The committee checkpoint carries its tokenizer (the members'), its code (for `trust_remote_code=True`) and the
members' weights: `AutoModelForSequenceClassification.from_pretrained(output_dir)` gives the committee.
Training members end to end: `train_committee.py` at the repository root. `MembersInProcesses` runs a committee's
members each in its own one-thread process, concurrently: how the latency benchmarks measure the committee with one
core per member.
"""

import argparse
import json
import math
import multiprocessing

import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding

from .configuration_committee import COMBINE_MODES
from .modeling_committee import TLMCommitteeForSequenceClassification, load_member_tokenizer, combine_member_logits


def assemble(members: list[str], output_dir: str, combine: str = "soft", push_to_hub: str | None = None,
             token: str | None = None) -> TLMCommitteeForSequenceClassification:
    """from_members(members) saved to output_dir with the first member's tokenizer (from_members has checked that
    every member that has a tokenizer has this one); pushed as one repo with `push_to_hub`."""
    from .training.checks import ArgumentError, check_checkpoint_folder

    for member in members:  # a missing or broken local folder is named here, not mistaken for a Hub id
        check_checkpoint_folder(member, "--members")
    try:
        committee = TLMCommitteeForSequenceClassification.from_members(members, combine=combine)
    except (ValueError, TypeError) as e:  # the modeling file's own errors (it imports nothing of ours): bad members
        raise ArgumentError(f"--members: {e}") from e
    tokenizer = next(filter(None, map(load_member_tokenizer, members)), None)
    if tokenizer is None:
        raise ArgumentError(f"--members: none of {members} has tokenizer files; the committee needs one")
    committee.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    if push_to_hub:
        committee.push_to_hub(push_to_hub, token=token)
        tokenizer.push_to_hub(push_to_hub, token=token)
    return committee


@torch.no_grad()
def member_logits_over(committee: TLMCommitteeForSequenceClassification, dataset, tokenizer,
                       batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Every member's logits over `dataset` (columns input_ids, attention_mask, labels; unpadded) in one pass,
    batched in order and padded per batch as Trainer does -> ((N, examples, C) logits, (examples,) labels). Any
    committee of a subset of the members is then `combine_member_logits(logits[subset], mode)`."""
    columns = [c for c in dataset.column_names if c in ("input_ids", "attention_mask", "token_type_ids", "labels")]
    loader = DataLoader(dataset.select_columns(columns).with_format("torch"), batch_size=batch_size,
                        collate_fn=DataCollatorWithPadding(tokenizer))
    member_logits, labels = [], []
    committee.eval()
    for batch in loader:
        member_logits.append(committee.member_logits(
            batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).float())  # (N, B, C)
        labels.append(batch["labels"])
    return torch.cat(member_logits, dim=1), torch.cat(labels)  # (N, examples, C), (examples,)


def evaluate(committee: TLMCommitteeForSequenceClassification, dataset, tokenizer, batch_size: int = 64) -> dict:
    """Test accuracy of each member and of the committee under every combine mode, from one pass over `dataset`."""
    member_logits, labels = member_logits_over(committee, dataset, tokenizer, batch_size)

    def accuracy(logits):
        return (logits.argmax(-1) == labels).float().mean().item()

    members = [accuracy(logits) for logits in member_logits]
    modes = {mode: accuracy(combine_member_logits(member_logits, mode)) for mode in COMBINE_MODES}
    return {
        "examples": len(labels),
        "member_accuracy": members,
        "best_member_accuracy": max(members),
        "committee_accuracy": modes[committee.config.combine],
        "committee_minus_best_member": modes[committee.config.combine] - max(members),
        "accuracy_by_combine_mode": modes,
    }


class MembersInProcesses:
    """A soft committee whose members each run in their own process on one thread, concurrently: called like the
    committee on input_ids, it sends them to every member, waits for all, and averages their probabilities.

    `reference` is the same committee in this process: FLOPs are counted on it (the counter cannot see the others).
    """

    def __init__(self, committee: TLMCommitteeForSequenceClassification):
        self.reference = committee
        context = multiprocessing.get_context("spawn")  # a fork of a process with torch's thread pool can hang
        self.connections, self.processes = [], []
        for member in committee.members:
            here, there = context.Pipe()
            process = context.Process(target=_serve_member, args=(member, there), daemon=True)
            process.start()
            self.connections.append(here)
            self.processes.append(process)
        for connection in self.connections:
            connection.recv()  # ready: imported, loaded, one thread

    def __call__(self, input_ids):
        ids = input_ids.cpu().numpy()
        for connection in self.connections:
            connection.send(ids)
        log_probs = torch.stack([torch.from_numpy(connection.recv()) for connection in self.connections])  # (N, B, C)
        return torch.logsumexp(log_probs, 0) - math.log(len(self.connections))  # log of the averaged probabilities

    def close(self):
        for connection in self.connections:
            connection.send(None)
        for process in self.processes:
            process.join(timeout=10)


def _serve_member(member, connection):
    """A member's process: one torch thread; answers each batch of input ids with its log-probabilities."""
    torch.set_num_threads(1)
    member.eval()
    connection.send("ready")
    with torch.inference_mode():
        while (ids := connection.recv()) is not None:
            connection.send(member(torch.from_numpy(ids)).logits.log_softmax(-1).numpy())


def main(argv: list[str] | None = None) -> None:
    """The command line; bad input ends through `run_cli` (exit 2, `error: ...`), as every command's does."""
    parser = argparse.ArgumentParser(prog="python -m modeling_tlm.committee", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("assemble", help="one committee checkpoint from fine-tuned member checkpoints")
    build.add_argument("--members", nargs="+", required=True, help="fine-tuned TLM classifier folders or Hub ids")
    build.add_argument("--output_dir", required=True)
    build.add_argument("--combine", default="soft", choices=COMBINE_MODES)
    build.add_argument("--push_to_hub", metavar="REPO_ID", help="also push the committee to this Hub repo")
    build.add_argument("--hub_token")
    args = parser.parse_args(argv)
    committee = assemble(args.members, args.output_dir, args.combine, args.push_to_hub, args.hub_token)
    summary = dict(output_dir=args.output_dir, members=args.members, combine=args.combine,
                   labels=committee.config.id2label, pushed_to=args.push_to_hub)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    from .training.commands import run_cli

    run_cli(main)
