"""Configuration of a soft committee of TLM classifiers (the paper's third claim: several independently pre-trained
BERT-1 models, averaged, match one BERT-6).

This file travels with every committee checkpoint (Hub `trust_remote_code` loading), so it imports only transformers
and, relatively, the member config beside it.
"""

from transformers import PreTrainedConfig

from .configuration_tlm import SPECIAL_TOKEN_ID_FIELDS, TLMConfig

# How the members' outputs become the committee's (see `combine_member_logits` in modeling_committee.py).
COMBINE_MODES = ("soft", "logits", "vote")

AUTO_MAP = {
    "AutoConfig": "configuration_committee.TLMCommitteeConfig",
    "AutoModelForSequenceClassification": "modeling_committee.TLMCommitteeForSequenceClassification",
}

# Keys of a member's config dict that describe the checkpoint it came from, not the member: dropped when stored.
_NOT_MEMBER_FIELDS = ("transformers_version", "auto_map", "architectures", "_name_or_path", "dtype")
# What members must agree on to share one tokenizer: the vocabulary size and the special-token ids.
VOCAB_FIELDS = ("vocab_size", *SPECIAL_TOKEN_ID_FIELDS)


class TLMCommitteeConfig(PreTrainedConfig):
    r"""
    Configuration of [`TLMCommitteeForSequenceClassification`]: N TLM classifiers with one label set and one
    tokenizer, whose outputs are combined.

    Args:
        members (`list[dict | TLMConfig]`): the members' configs (a `TLMConfig` or its dict each). Members may differ
            in architecture (e.g. different BERT-1 variants) but not in labels or vocabulary.
        combine (`str`, defaults to `"soft"`): `"soft"` averages the members' class probabilities (the soft
            committee); `"logits"` averages their logits; `"vote"` takes the majority vote, ties broken by the
            averaged probabilities.
        id2label / label2id: the label maps; default to the members' (which must all be the same).
    """

    model_type = "tlm-committee"

    members: list | None = None
    combine: str = "soft"
    auto_map: dict | None = None

    def __post_init__(self, **kwargs):
        self.members = [_member_dict(member) for member in self.members or []]
        if self.members and self.id2label is None and "num_labels" not in kwargs:
            self.id2label = dict(self.members[0].get("id2label") or {})  # the members' labels by default
            self.label2id = {label: int(i) for i, label in self.id2label.items()}
        if self.auto_map is None:
            self.auto_map = dict(AUTO_MAP)
        super().__post_init__(**kwargs)
        self._validate()

    def _validate(self):
        if self.combine not in COMBINE_MODES:
            raise ValueError(f"TLMCommitteeConfig.combine must be one of {COMBINE_MODES}, got {self.combine!r}")
        if self.problem_type not in (None, "single_label_classification"):
            raise ValueError(
                "TLMCommitteeConfig.problem_type must be 'single_label_classification' (a committee averages class "
                f"probabilities), got {self.problem_type!r}"
            )
        labels = {int(i): label for i, label in self.id2label.items()}
        for index, member in enumerate(self.members):
            if member.get("model_type", TLMConfig.model_type) != TLMConfig.model_type:
                raise ValueError(
                    f"TLMCommitteeConfig.members[{index}] has model_type {member['model_type']!r}; "
                    f"members must be {TLMConfig.model_type!r} classifiers"
                )
            member_labels = {int(i): label for i, label in (member.get("id2label") or {}).items()}
            if member_labels != labels:
                raise ValueError(f"TLMCommitteeConfig.members[{index}]: {label_difference(member_labels, labels)}")
            if member.get("problem_type") not in (None, "single_label_classification"):
                raise ValueError(
                    f"TLMCommitteeConfig.members[{index}] has problem_type {member['problem_type']!r}; a committee "
                    "combines single-label classifiers"
                )
        configs = self.member_configs
        for index, config in enumerate(configs[1:], start=1):
            diff = vocab_difference(config, configs[0])
            if diff:
                raise ValueError(f"TLMCommitteeConfig.members[{index}] differs from members[0] in {diff}")

    @property
    def member_configs(self) -> list[TLMConfig]:
        """The members' configs as `TLMConfig` objects."""
        return [TLMConfig.from_dict(dict(member)) for member in self.members]

    @property
    def num_members(self) -> int:
        return len(self.members)


def _member_dict(member) -> dict:
    member = member.to_dict() if isinstance(member, PreTrainedConfig) else dict(member)
    for key in _NOT_MEMBER_FIELDS:
        member.pop(key, None)
    if member.get("id2label") is not None:  # JSON keys are strings; compare and store ids as ints
        member["id2label"] = {int(i): label for i, label in member["id2label"].items()}
    return member


def label_difference(labels: dict, expected: dict) -> str:
    """'labels {...} differ from {...}: ...' naming the ids whose labels differ, for error messages."""
    ids = sorted(set(labels) | set(expected))
    diff = [f"id {i}: {labels.get(i, '<none>')!r} vs {expected.get(i, '<none>')!r}" for i in ids
            if labels.get(i) != expected.get(i)]
    return f"labels {labels} differ from {expected} ({'; '.join(diff)})"


def vocab_difference(config, reference) -> str:
    """'' when two member configs agree on the vocabulary, else 'vocab_size (8000 vs 30522), ...'."""
    return ", ".join(
        f"{field} ({getattr(config, field)} vs {getattr(reference, field)})"
        for field in VOCAB_FIELDS
        if getattr(config, field) != getattr(reference, field)
    )


__all__ = ["TLMCommitteeConfig", "COMBINE_MODES"]
