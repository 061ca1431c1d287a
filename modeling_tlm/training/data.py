"""The data loading train_mlm.py and train_cls.py share with the other commands (committee training, experiments),
so that every command sees exactly the texts and labelled samples the training scripts saw."""

import pyarrow.compute as pc

from ..data import (DataError, TASK_DEFAULTS, build_mlm_datasets, load_pretraining_texts, load_task, load_task_texts,
                    tokenize_task, TASK_TEXT_CORPORA)
from ..data.loading import load_hub_dataset
from ..data.corpus import WIKIPEDIA_HUB_CONFIG, WIKIPEDIA_HUB_ID


def samples_per_label(data_args) -> dict:
    """--samples_per_label_train/test, defaulting to the paper's sizes for named tasks (None: every row)."""
    defaults = TASK_DEFAULTS.get(data_args.task_name, {})
    return {k: getattr(data_args, k) or defaults.get(k) for k in ("samples_per_label_train", "samples_per_label_test")}


def load_classification_data(data_args, tokenizer, seed: int):
    """The sampled task (train / validation / test) and its tokenized splits. FewRel adds entity markers to the
    tokenizer here."""
    task = load_task(
        data_args.task_name,
        data_dir=data_args.data_dir,
        **samples_per_label(data_args),
        validation_fraction=data_args.validation_split_percentage / 100,
        seed=seed,
        train_file=data_args.train_file,
        test_file=data_args.test_file,
        validation_file=data_args.validation_file,
        text_column=data_args.text_column_name,
        label_column=data_args.label_column_name,
        use_title=data_args.use_title,
        entity_markers=data_args.entity_markers,
    )
    return task, tokenize_task(task, tokenizer, data_args.max_seq_length, data_args.preprocessing_num_workers)


def load_pretraining_corpus(source: str, data_args):
    """Documents (column `text`) from 'wikipedia' (the folder in --data_dir, else the Hub), a task's training texts
    ('ag_news', 'dbpedia_14': task-adaptive pre-training, from --data_dir else the Hub), a Hub id, or a path."""
    if source == data_args.dataset_name and source in TASK_TEXT_CORPORA:
        return load_task_texts(source, data_dir=data_args.data_dir)
    from_hub = source == data_args.dataset_name and not (source == "wikipedia" and data_args.data_dir)
    if not from_hub:
        texts = load_pretraining_texts(source, data_dir=data_args.data_dir, text_column=data_args.text_column_name,
                                       num_proc=data_args.preprocessing_num_workers)
        if len(texts) == 0:
            raise DataError(f"{source}: the corpus holds no documents (every text is empty)")
        return texts
    hub_id, config = (WIKIPEDIA_HUB_ID, WIKIPEDIA_HUB_CONFIG) if source == "wikipedia" else (source, None)
    texts = load_hub_dataset(hub_id, data_args.dataset_config_name or config, split="train")
    column = data_args.text_column_name
    if column not in texts.column_names:
        raise DataError(f"--dataset_name {source}: no text column {column!r}; its columns are {texts.column_names} "
                        "(pass --text_column_name)")
    texts = texts.select_columns([column])
    return texts if column == "text" else texts.rename_column(column, "text")


def load_mlm_datasets(data_args, tokenizer, seed: int):
    """Train and validation sequences: a held-out slice of the corpus, or --validation_file."""
    kwargs = dict(max_length=data_args.max_seq_length, sequence_mode=data_args.sequence_mode, seed=seed,
                  num_proc=data_args.preprocessing_num_workers)
    texts = load_pretraining_corpus(data_args.train_file or data_args.dataset_name, data_args)
    if data_args.validation_file is None:
        return build_mlm_datasets(texts, tokenizer, pre_train_size=data_args.pre_train_size,
                                  eval_fraction=data_args.validation_split_percentage / 100, **kwargs)
    held_out = dict(eval_fraction=0.0, min_eval_sequences=0)
    dataset = build_mlm_datasets(texts, tokenizer, pre_train_size=data_args.pre_train_size, **held_out, **kwargs)
    validation = load_pretraining_corpus(data_args.validation_file, data_args)
    dataset["validation"] = build_mlm_datasets(validation, tokenizer, **held_out, **kwargs)["train"]
    return dataset


def count_tokens(dataset) -> int:
    mask = dataset.select_columns(["attention_mask"]).with_format("arrow")[:]["attention_mask"]  # honours select()
    return int(pc.sum(pc.list_flatten(mask)).as_py() or 0)
