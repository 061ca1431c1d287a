"""The MLM batch collator of train_mlm.py."""

import zlib

import torch
from transformers import DataCollatorForLanguageModeling


class MLMCollator(DataCollatorForLanguageModeling):
    """DataCollatorForLanguageModeling with two changes, neither of which changes what a batch looks like:

    - Masks are drawn from a generator seeded with `seed` (default: torch's seed when the collator is made, i.e.
      --seed) and the batch's own tokens. The same batch gets the same masks however the run got there, so a run
      resumed from a checkpoint masks exactly as an uninterrupted one, and the global RNG is left to dropout, whose
      state checkpoints restore. Other batches (and the same sequences reshuffled in another epoch) get other masks:
      masking stays dynamic.
    - An attention mask without padding in it (packed sequences) is left out, so that the model calls SDPA without a
      mask, its fastest kernel. Decided here, on the data side, so the model's forward has no branch on tensor values
      (it traces, compiles and exports with padding).
    """

    def __post_init__(self):
        super().__post_init__()
        self.mask_seed = torch.initial_seed() if self.seed is None else self.seed
        self.seed = None  # the base class's single generator for the whole run is not used

    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        content = zlib.crc32(inputs.numpy().tobytes())  # (B, T) token ids -> 32 bits
        self.generator = torch.Generator().manual_seed((self.mask_seed * 2**32 + content) % 2**63)
        return super().torch_mask_tokens(inputs, special_tokens_mask=special_tokens_mask,
                                         offset_mapping=offset_mapping)

    def torch_call(self, examples):
        batch = super().torch_call(examples)
        mask = batch.get("attention_mask")
        if mask is not None and bool(mask.all()):
            del batch["attention_mask"]
        return batch
