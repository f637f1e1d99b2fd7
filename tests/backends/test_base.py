"""The backend interface (backends/base.py): declared once, implemented by both backends."""

import pytest

from resnext.backends import get_backend
from resnext.backends.base import Backend
from resnext.backends.cpu import CollectiveBackend
from resnext.backends.npu import NpuBackend


@pytest.mark.parametrize("cls", [CollectiveBackend, NpuBackend])
def test_both_backends_implement_every_declared_method(cls):
    assert issubclass(cls, Backend)
    assert not cls.__abstractmethods__
    assert Backend.__abstractmethods__ <= set(vars(cls))  # each its own, none inherited empty


def test_a_backend_missing_a_method_cannot_be_built(tiny_cfg):
    class Partial(Backend):
        def session_config(self):
            return None

    with pytest.raises(TypeError, match="abstract"):
        Partial(tiny_cfg(), 0, 1)


def test_the_cpu_backend_of_rank_0_is_the_chief(tiny_cfg):
    backend = get_backend(tiny_cfg(), 0, 1)
    assert isinstance(backend, Backend) and backend.is_chief and backend.rank_size == 1
    assert backend.average_scalars([1.0]) == [1.0] and backend.broadcast_variables_op() is None
