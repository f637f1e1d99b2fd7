"""Model: the architecture table and its graph builder (see resnext.model.resnext)."""

from resnext.model.resnext import (  # noqa: F401
    ARCHS,
    ArchSpec,
    build_logits,
    config_logits,
    get_arch,
    is_batch_norm_variable,
)
