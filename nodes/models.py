"""Model nodes: pretrained models, models from a config, LoRA adapters."""
