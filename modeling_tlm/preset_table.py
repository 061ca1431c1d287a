"""Print the named presets with their parameter counts: `python -m modeling_tlm.preset_table`.

The README's preset table is this command's output. Models are built on the meta device, so nothing is allocated.
"""

import torch

from .configuration_tlm import PRESETS, TLMConfig
from .modeling_tlm import TLMForMaskedLM


def describe(name: str) -> dict:
    config = TLMConfig.from_preset(name)
    with torch.device("meta"):
        model = TLMForMaskedLM(config)
    # Tied decoder weights are one tensor: count each parameter once (model.parameters() already deduplicates).
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for p in model.tlm.embeddings.parameters())
    conv = sum(p.numel() for p in model.tlm.conv.parameters()) if model.tlm.conv is not None else 0
    return dict(name=name, layers=config.num_hidden_layers, hidden=config.hidden_size, heads=config.num_attention_heads,
                ffn=config.intermediate_size, conv=_conv_summary(config), total=total, embeddings=embeddings, conv_params=conv)


def _conv_summary(config: TLMConfig) -> str:
    if not config.num_conv_layers:
        return "none"
    kernels = {f"{h}x{w}" for h, w in config.conv_kernel_sizes}
    return f"{config.num_conv_layers} x {'/'.join(sorted(kernels))}, d={config.conv_channels}"


def preset_table() -> str:
    rows = ["| preset | layers | hidden | heads | FFN | conv front end | parameters (MLM) | of which embeddings | conv |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for name in PRESETS:
        d = describe(name)
        rows.append(f"| `{name}` | {d['layers']} | {d['hidden']} | {d['heads']} | {d['ffn']} | {d['conv']} | "
                    f"{d['total'] / 1e6:.2f}M | {d['embeddings'] / 1e6:.2f}M | {d['conv_params']:,} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(preset_table())
