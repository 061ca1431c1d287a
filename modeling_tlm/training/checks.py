"""Checks that run before any long work: every bad input stops here with a message naming the flag, file or value.

The scripts call them in order of cost: flags first (instant), then config/tokenizer/Hub (seconds), then data sizes
(after tokenization), so a typo never costs a tokenization pass and nothing fails after training has started.
"""

import json
import os
from pathlib import Path

from ..configuration_tlm import PRESETS, TLMConfig
from ..data import DataError, TASK_TEXT_CORPORA
from .errors import ArgumentError  # noqa: F401 (the commands catch it from here)
from .resume import checkpoint_step

CLASSIFICATION_ARCHITECTURES = ("TLMForSequenceClassification",)


def check_presets(flag: str, names, conv_free: bool = False) -> None:
    """Every name is a preset of `PRESETS` (and, with `conv_free`, one without the conv front end, which stock BERT
    lacks: what the comparisons with transformers' BERT need)."""
    for name in names:
        if name not in PRESETS:
            raise ArgumentError(f"{flag} {name!r} is unknown; choose one of: {', '.join(PRESETS)}")
        if conv_free and PRESETS[name].get("num_conv_layers"):
            raise ArgumentError(f"{flag} {name!r} has a conv front end, which stock BERT lacks; pick a conv-free preset")


def check_at_least(args, names, minimum: int = 1) -> None:
    """Each flag in `names` (an attribute of `args`; a list flag: every element) is at least `minimum`."""
    for name in names:
        value = getattr(args, name)
        if any(v < minimum for v in (value if isinstance(value, (list, tuple)) else [value])):
            raise ArgumentError(f"--{name} must be at least {minimum}, got {value}")


def check_choices(flag: str, what: str, values, choices) -> None:
    """Every value of a list flag (--dtypes) is one of `choices`; `what` names one value in the message."""
    for value in values:
        if value not in choices:
            raise ArgumentError(f"{flag}: unknown {what} {value!r}; choose from {', '.join(choices)}")


def check_preset_positions(flag: str, length: int) -> None:
    """A sequence length the presets' position table holds."""
    limit = TLMConfig().max_position_embeddings
    if length > limit:
        raise ArgumentError(f"{flag} {length} exceeds the presets' {limit} positions")


def check_model_arguments(model_args, classification: bool) -> None:
    """Exactly one source of weights/architecture, and known preset names."""
    if model_args.model_preset is not None:
        check_presets("--model_preset", [model_args.model_preset])
    fresh = [f"--{k}" for k in ("model_preset", "config_name") if getattr(model_args, k)]
    if len(fresh) > 1:
        raise ArgumentError("--model_preset and --config_name both define the architecture; give one of them")
    if model_args.config_overrides and not fresh and not model_args.model_name_or_path:
        raise ArgumentError("--config_overrides changes a new model's config: use it with --model_preset or "
                            "--config_name (or, for dropout only, with --model_name_or_path)")
    from_scratch = getattr(model_args, "from_scratch", False)
    if model_args.model_name_or_path and fresh:
        what = "--from_scratch trains random weights" if from_scratch else "the checkpoint fixes the architecture"
        raise ArgumentError(f"--model_name_or_path contradicts {fresh[0]} ({what}); give one of them")
    if classification:
        if from_scratch and model_args.model_name_or_path:
            raise ArgumentError("--from_scratch contradicts --model_name_or_path: --from_scratch trains random "
                                "weights, --model_name_or_path fine-tunes pre-trained ones; give one of them")
        if from_scratch and not fresh:
            raise ArgumentError("--from_scratch needs --model_preset (or --config_name) to say which architecture")
        if fresh and not from_scratch:
            raise ArgumentError(f"{fresh[0]} builds a model with random weights: add --from_scratch to train that "
                                "baseline, or give --model_name_or_path to fine-tune a pre-trained checkpoint")
    if model_args.model_name_or_path:
        check_checkpoint_folder(model_args.model_name_or_path)
    if not model_args.model_name_or_path and not fresh:
        choice = "--model_name_or_path (a pre-trained TLM checkpoint) or --from_scratch --model_preset NAME" \
            if classification else "--model_preset NAME, --config_name or --model_name_or_path"
        raise ArgumentError(f"no model given: pass {choice} (presets: {', '.join(PRESETS)})")


def check_checkpoint_folder(name_or_path: str, flag: str = "--model_name_or_path") -> None:
    """A local checkpoint folder must exist and hold config.json (a Hub id is checked when it is downloaded)."""
    path = Path(name_or_path).expanduser()
    # A Hub id is owner/name; a path with more parts, or whose first folder exists here, is meant to be local.
    looks_local = path.is_absolute() or name_or_path.startswith((".", "~")) or path.exists() \
        or len(path.parts) > 2 or (len(path.parts) == 2 and Path(path.parts[0]).is_dir())
    if not looks_local:
        return
    if not path.is_dir():
        raise ArgumentError(f"{flag} {name_or_path}: no such folder (expected a checkpoint folder with config.json)")
    if not (path / "config.json").is_file():
        inner = sorted((p for p in path.glob("checkpoint-*") if (p / "config.json").is_file()), key=checkpoint_step)
        hint = f"; it holds Trainer checkpoints, e.g. pass {inner[-1]}" if inner else ""
        raise ArgumentError(f"{flag} {name_or_path}: the folder has no config.json, so it is not a model "
                            f"checkpoint{hint}")
    try:
        json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArgumentError(f"{path / 'config.json'}: not valid JSON ({e}); the checkpoint's config is damaged") from None


def check_tlm_config(config, name_or_path: str) -> None:
    if not isinstance(config, TLMConfig):
        raise ArgumentError(
            f"--model_name_or_path {name_or_path}: model_type is {getattr(config, 'model_type', None)!r}, not 'tlm'. "
            "Convert BERT checkpoints first with modeling_tlm.conversion.bert_to_tlm"
        )


def check_checkpoint_weights(config, name_or_path: str) -> None:
    """A local checkpoint's model.safetensors is complete and holds the encoder its config describes: its header and
    key set are read (no tensor is loaded) and compared with a model built on the meta device."""
    weights = Path(name_or_path).expanduser() / "model.safetensors"
    if not weights.is_file():
        return  # a Hub id (checked on download) or another weight format (checked by from_pretrained)
    import torch
    from safetensors import safe_open

    from ..modeling_tlm import TLMModel

    try:
        with safe_open(str(weights), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # safetensors raises its own SafetensorError (and OSError) on a damaged file
        raise ArgumentError(f"{weights}: not a complete safetensors file ({e}); the checkpoint is damaged or was not "
                            "fully written. Save it again, or use an earlier checkpoint") from None
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in TLMModel(config).state_dict().items()}
    prefix = "tlm."  # the encoder inside every TLM head model (base_model_prefix)
    stored = {k[len(prefix):]: v for k, v in stored.items() if k.startswith(prefix)} or stored
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
    if missing or unexpected or wrong:
        found = "; ".join(filter(None, [
            missing and f"missing {', '.join(missing[:3])}", unexpected and f"unexpected {', '.join(unexpected[:3])}",
            wrong and f"{wrong[0]} is {stored[wrong[0]]}, the config gives {expected[wrong[0]]}"]))
        raise ArgumentError(
            f"{weights}: the weights do not match {weights.parent / 'config.json'} (num_hidden_layers="
            f"{config.num_hidden_layers}, hidden_size={config.hidden_size}, num_conv_layers={config.num_conv_layers}, "
            f"vocab_size={config.vocab_size}): {found}"
        )


def check_mlm_checkpoint(config, name_or_path: str) -> None:
    """train_mlm.py continues masked-LM training: a fine-tuned classifier has no MLM head to continue."""
    architectures = getattr(config, "architectures", None) or []
    if any(a in CLASSIFICATION_ARCHITECTURES for a in architectures):
        raise ArgumentError(
            f"--model_name_or_path {name_or_path} is a classification checkpoint ({', '.join(architectures)}): it has "
            "no MLM head to continue pre-training. Pass a pre-trained (TLMForMaskedLM) checkpoint, or fine-tune this "
            "one with train_cls.py"
        )


def check_missing_head(loading_info: dict, prefix: str, name_or_path: str) -> None:
    """Raise if weights of the head we continue training (e.g. `lm_head.`) were missing from the checkpoint."""
    missing = [k for k in loading_info.get("missing_keys", []) if k.startswith(prefix)]
    if missing:
        raise ArgumentError(
            f"--model_name_or_path {name_or_path} has no {prefix.rstrip('.')} weights ({missing[0]}, ...): it is not "
            "a masked-LM checkpoint. Pass a checkpoint saved by train_mlm.py"
        )


def check_dataset_size(dataset, split: str, minimum: int, why: str) -> None:
    """A split must exist and hold at least `minimum` rows."""
    n = len(dataset[split]) if split in dataset else 0
    if n < minimum:
        raise DataError(f"the {split} set has {n} rows, fewer than {minimum} ({why}); use more data")


def global_batch_size(training_args) -> int:
    return training_args.per_device_train_batch_size * training_args.world_size * training_args.gradient_accumulation_steps


def check_training_arguments(training_args) -> None:
    if training_args.max_train_minutes is not None:
        check_budget_arguments(training_args)
    resume = training_args.resume_from_checkpoint
    if resume and not (Path(resume) / "trainer_state.json").is_file():
        raise ArgumentError(f"--resume_from_checkpoint {resume}: not a Trainer checkpoint folder (no trainer_state.json)")


def check_budget_arguments(training_args) -> None:
    """--max_train_minutes is the schedule's length: warm-up as a fraction of it, a shape that is a function of
    progress. Without --max_steps the budget alone ends the run (num_train_epochs no longer does)."""
    from .budget import UNBOUNDED_STEPS, schedule_shape

    minutes = training_args.max_train_minutes
    if minutes <= 0:
        raise ArgumentError(f"--max_train_minutes {minutes}: expected a positive number")
    if not 0 <= training_args.warmup_steps < 1:
        raise ArgumentError(
            f"--warmup_steps {training_args.warmup_steps:g} with --max_train_minutes: the warm-up of a budgeted run is "
            "a fraction of its budget, expected a number in [0, 1) (e.g. 0.1 for the first 10%)")
    scheduler_type = str(getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type))
    try:
        schedule_shape(scheduler_type, training_args.warmup_steps, training_args.lr_scheduler_kwargs)
    except (ValueError, TypeError) as e:
        raise ArgumentError(f"--lr_scheduler_type {scheduler_type} with --max_train_minutes: {e}") from e
    if training_args.max_steps <= 0:
        training_args.max_steps = UNBOUNDED_STEPS


def check_hub(training_args):
    """With --push_to_hub: a token that the configured endpoint accepts, checked now rather than after training.

    The token is then moved from `training_args.hub_token` into this process's HF_TOKEN: the Trainer pickles its
    arguments into training_args.bin, which is pushed to the Hub, and the token must not travel with them.
    """
    if not training_args.push_to_hub:
        return
    import huggingface_hub
    from huggingface_hub import constants

    endpoint = constants.ENDPOINT
    if constants.HF_HUB_OFFLINE:
        raise ArgumentError(f"--push_to_hub needs the Hub ({endpoint}) but HF_HUB_OFFLINE is set; unset it, or drop "
                            "--push_to_hub")
    token = training_args.hub_token or huggingface_hub.get_token()
    if not token:
        raise ArgumentError("--push_to_hub needs a write token: pass --hub_token, set HF_TOKEN, or run `hf auth login`")
    try:
        user = huggingface_hub.whoami(token=token)
    except Exception as e:  # connection refused, DNS, timeout, 401: all mean "cannot push", said plainly
        status = getattr(getattr(e, "response", None), "status_code", None)
        reason = "it rejected the token (401 Unauthorized)" if status == 401 else \
            f"{type(e).__name__}: {str(e).replace(token, '<hidden>')}"
        raise ArgumentError(f"--push_to_hub: cannot use the Hub at {endpoint} (HF_ENDPOINT): {reason}") from None
    if training_args.hub_token:
        os.environ["HF_TOKEN"] = training_args.hub_token
        training_args.hub_token = None
    return user


def check_data_dir(data_args) -> None:
    """--data_dir, when given, is a folder (a typo must not turn into a download attempt from the Hub)."""
    if data_args.data_dir and not Path(data_args.data_dir).expanduser().is_dir():
        raise ArgumentError(f"--data_dir {data_args.data_dir}: no such folder (expected a data folder laid out like "
                            "../shared/data: wikipedia/, ag_news/, dbpedia_14/, fewrel/, bert-base-uncased/)")


def check_mlm_data_arguments(data_args) -> None:
    check_data_dir(data_args)
    name = data_args.dataset_name
    if name and name not in ("wikipedia", *TASK_TEXT_CORPORA) and data_args.data_dir and "/" not in name:
        raise ArgumentError(f"--dataset_name {name!r}: with --data_dir the local corpora are 'wikipedia' and the "
                            f"training texts of {', '.join(TASK_TEXT_CORPORA)} (task-adaptive pre-training); other "
                            "names are Hub dataset ids (owner/name)")
    if data_args.dataset_name and data_args.train_file:
        raise ArgumentError("--dataset_name and --train_file both name the training corpus; give one of them")
    if not data_args.dataset_name and not data_args.train_file:
        raise ArgumentError("no training data: pass --dataset_name wikipedia (with --data_dir for the local copy) or "
                            "--train_file FILE_OR_FOLDER")
    if data_args.dataset_config_name and data_args.dataset_name == "wikipedia" and data_args.data_dir:
        raise ArgumentError("--dataset_config_name picks a Hub config, but --data_dir makes --dataset_name wikipedia "
                            "read the local folder; drop one of them")
    if not 0 < data_args.mlm_probability < 1:
        raise ArgumentError(f"--mlm_probability {data_args.mlm_probability}: expected a number in (0, 1)")
    replace = (data_args.mask_replace_prob, data_args.random_replace_prob)
    if min(replace) < 0 or sum(replace) > 1:
        raise ArgumentError(f"--mask_replace_prob {replace[0]} and --random_replace_prob {replace[1]}: expected "
                            "non-negative numbers summing to at most 1 (the rest keep the original token)")
    if data_args.pre_train_size is not None and data_args.pre_train_size < 1:
        raise ArgumentError(f"--pre_train_size {data_args.pre_train_size}: expected a positive number of sequences")
    if not 0 < data_args.validation_split_percentage < 100:
        raise ArgumentError(f"--validation_split_percentage {data_args.validation_split_percentage}: expected (0, 100)")


def check_cls_data_arguments(data_args) -> None:
    from ..data import TASK_NAMES

    check_data_dir(data_args)

    if data_args.task_name is None and data_args.train_file is None:
        raise ArgumentError(f"no task: pass --task_name ({', '.join(TASK_NAMES)}) or --train_file and --test_file")
    if data_args.task_name is not None and data_args.task_name not in TASK_NAMES:
        raise ArgumentError(f"--task_name {data_args.task_name!r} is unknown; choose one of: {', '.join(TASK_NAMES)}")
    for flag in ("samples_per_label_train", "samples_per_label_test"):
        value = getattr(data_args, flag)
        if value is not None and value < 1:
            raise ArgumentError(f"--{flag} {value}: expected a positive number of examples per label")
    if not 0 <= data_args.validation_split_percentage < 100:
        raise ArgumentError(f"--validation_split_percentage {data_args.validation_split_percentage}: expected [0, 100)")


def check_sequence_length(data_args, config) -> None:
    if not 3 <= data_args.max_seq_length <= config.max_position_embeddings:
        raise ArgumentError(f"--max_seq_length {data_args.max_seq_length}: the model takes 3 to "
                            f"max_position_embeddings={config.max_position_embeddings} tokens")
