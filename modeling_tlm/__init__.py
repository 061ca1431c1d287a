"""modeling_tlm: tiny BERT-style language models, registered with the transformers Auto classes.

`import modeling_tlm` makes `AutoConfig`, `AutoModel`, `AutoModelForMaskedLM` and
`AutoModelForSequenceClassification` know the "tlm" model type, and marks the classes so that `save_pretrained`
copies their code into the checkpoint (for `trust_remote_code=True` loading where this package is not installed).
"""

from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

from .configuration_tlm import PRESETS, TLMConfig
from .modeling_tlm import TLMForMaskedLM, TLMForSequenceClassification, TLMModel, TLMPreTrainedModel

AutoConfig.register(TLMConfig.model_type, TLMConfig, exist_ok=True)
for _auto, _model in (
    (AutoModel, TLMModel),
    (AutoModelForMaskedLM, TLMForMaskedLM),
    (AutoModelForSequenceClassification, TLMForSequenceClassification),
):
    _auto.register(TLMConfig, _model, exist_ok=True)
    _model.register_for_auto_class(_auto.__name__)
TLMConfig.register_for_auto_class()

__all__ = [
    "PRESETS",
    "TLMConfig",
    "TLMModel",
    "TLMPreTrainedModel",
    "TLMForMaskedLM",
    "TLMForSequenceClassification",
]

# The soft committee: registers the "tlm-committee" model type with the Auto classes.
from .configuration_committee import TLMCommitteeConfig  # noqa: E402
from .modeling_committee import TLMCommitteeForSequenceClassification, register as _register_committee  # noqa: E402

_register_committee()
__all__ += ["TLMCommitteeConfig", "TLMCommitteeForSequenceClassification"]
# --- end committee block ---
