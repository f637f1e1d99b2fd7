"""The interface of a device backend, declared once; cpu.CollectiveBackend and npu.NpuBackend
implement it, and train/step.py, train/loop.py and benchmark.py use only what is declared here.

A backend is one rank of a data-parallel job: one process per device, `rank` of `rank_size`.
It decides what differs between devices: the session (config, target, device scope, steps per
run), the dtype the model computes in, and how gradients, logged scalars and the initial variables
are shared between ranks. Python 3.7, TF 1.15 API (the container runs it).
"""

import abc
import socket


class Backend(abc.ABC):
    """One rank of a data-parallel job; `resnext.backends.get_backend` builds the one for cfg."""

    def __init__(self, cfg, rank, rank_size):
        self.cfg = cfg  # the run's resnext.config.Config
        self.rank = rank  # int in [0, rank_size)
        self.rank_size = rank_size  # int >= 1: processes (devices) in the job
        self.hostnames = [socket.gethostname()]  # recorded in each block record

    @property
    def is_chief(self):
        """True on rank 0, the one rank that writes checkpoints, summaries and metrics."""
        return self.rank == 0

    @abc.abstractmethod
    def session_config(self):
        """tf.ConfigProto of this rank's training session."""

    @abc.abstractmethod
    def session_target(self):
        """str target of tf.Session: "" for in-process, else this rank's gRPC server."""

    @abc.abstractmethod
    def device_scope(self):
        """Context manager under which the graph is built (this rank's device or job task)."""

    @abc.abstractmethod
    def compute_dtype(self, cfg):
        """tf.DType the model computes activations in (tf.float32 or tf.float16)."""

    @abc.abstractmethod
    def wrap_optimizer(self, optimizer):
        """The tf.train.Optimizer that train/step.py applies the averaged gradients with."""

    @abc.abstractmethod
    def average_gradients(self, grads_and_vars):
        """[(grad float32 tensor [var shape], var)] -> the same list,
        each grad the mean over ranks."""

    @abc.abstractmethod
    def average_scalars(self, tensors):
        """[scalar tensor] -> [float32 scalar: its mean over ranks] (the inputs on one rank)."""

    @abc.abstractmethod
    def broadcast_variables_op(self):
        """Op setting every float variable to rank 0's value; None on one rank."""

    @abc.abstractmethod
    def loop_op(self, sess, train_op):
        """(op to sess.run, int train steps that one run performs) for train_op in sess."""
