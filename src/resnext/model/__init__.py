"""Model: the architecture table and its graph builder (see resnext.model.resnext)."""

from resnext.model.resnext import ARCHS, ArchSpec, build_logits, get_arch, is_batch_norm_variable  # noqa: F401
