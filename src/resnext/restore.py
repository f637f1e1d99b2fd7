"""Restoring a checkpoint into a graph, checked first: the same variables with the same shapes.

A plain Saver restore takes any checkpoint whose names cover the graph's: a resnext101 checkpoint
restores into resnext50 (its first blocks have the same names and shapes) and evaluates with exit 0.
So every restore (evaluate, export, a training resume) compares the checkpoint's variables with the
graph's first and names the first that differs; a checkpoint whose files TensorFlow cannot read
(a cut `.data` file, a damaged index) is named with what to do, without TensorFlow's report.
Python 3.7, TF 1.15 API.
"""

import os

from resnext import checkpoints
from resnext.compat import tf

# Variables a training checkpoint holds beside the model's, which an inference graph lacks: the
# optimizer's slots (`<variable>/Momentum`), the global step and the dynamic loss-scale state.
_TRAINING_ONLY = ("global_step", "loss_scale", "loss_scale_good_steps")

# what to do about a checkpoint of another model, after the variable that differs
INFERENCE_TODO = (
    "Evaluate or export it with the config it was trained with (config.resolved.yaml "
    "in its run folder), or give --checkpoint a checkpoint of this model"
)
RESUME_TODO = (
    "This run's checkpoints were trained with another arch or num_classes: set them as "
    "they were, or give the new model its own run_name"
)

# lines of TensorFlow's graph-execution report around the cause (TF 2.x; TF 1.15 puts it first)
_TF_REPORT = ("Graph execution error", "Detected at node", "Node:", "Hint:", "[[")


def tf_cause(message):
    """The line of a TensorFlow error message that says what went wrong (`<file>; No space ...`)."""
    lines = [line for line in message.splitlines() if line.strip()]
    causes = [line for line in lines if not line[0].isspace() and not line.startswith(_TF_REPORT)]
    return (causes or lines or [message])[0].strip()


def _unreadable(prefix, exc):
    """CheckpointError: which checkpoint TensorFlow could not read, its files' sizes, what to do."""
    cause = tf_cause(getattr(exc, "message", None) or str(exc))
    sizes = ", ".join(
        "%s: %d bytes" % (os.path.basename(p), os.path.getsize(p))
        for p in checkpoints.files_of(prefix)
    )
    return checkpoints.CheckpointError(
        "checkpoint %s cannot be read (%s): its files are damaged or cut short (%s). Restore them "
        "from a copy, or move %s.* aside and train that block again"
        % (prefix, cause, sizes, prefix)
    )


def checkpoint_shapes(prefix):
    """{variable name: shape as a list} from the checkpoint's index (its data is not read).

    Raises CheckpointError when the index is not one TensorFlow can read.
    """
    try:
        return {name: list(shape) for name, shape in tf.train.list_variables(prefix)}
    except (tf.errors.OpError, ValueError, IndexError) as exc:
        raise _unreadable(prefix, exc) from exc


def first_mismatch(shapes, variables):
    """The first difference (by variable name) between a checkpoint and a graph, or None.

    shapes: checkpoint_shapes(); variables: the graph's variables to restore. The checkpoint may
    hold training-only variables the graph lacks (slots, global step, loss scale), nothing else.
    """
    model = {v.op.name: v.shape.as_list() for v in variables}
    for name in sorted(set(model) | set(shapes)):
        if name not in shapes:
            return "%s is in the model but not in the checkpoint" % name
        if name not in model:
            if name in _TRAINING_ONLY or name.endswith("/Momentum"):
                continue
            return "%s is in the checkpoint but not in the model" % name
        if model[name] != shapes[name]:
            return "%s has shape %s in the checkpoint but %s in the model" % (
                name,
                shapes[name],
                model[name],
            )
    return None


def restore(sess, saver, prefix, cfg, todo):
    """saver.restore(sess, prefix) once the checkpoint is known to fit the graph of `sess`.

    Raises CheckpointError naming the first mismatched variable (then `todo`, what the user should
    do), or naming the checkpoint when TensorFlow cannot read its files.
    """
    checkpoints.require(prefix)
    variables = sess.graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)
    mismatch = first_mismatch(checkpoint_shapes(prefix), variables)
    if mismatch:
        raise checkpoints.CheckpointError(
            "checkpoint %s does not fit the configured model (arch %s, num_classes %d): %s. %s"
            % (prefix, cfg.arch, cfg.num_classes, mismatch, todo)
        )
    try:
        saver.restore(sess, prefix)
    except (tf.errors.OpError, ValueError, IndexError) as exc:
        raise _unreadable(prefix, exc) from exc
