"""The node types: data, text, models, training, inference, metrics, quality and the nodes' side of [trust]."""
