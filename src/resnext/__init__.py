"""ResNeXt-50 (32x4d) benchmark reproduction: config, data, model, training, evaluation, export,
report."""

__version__ = "0.1.0"
