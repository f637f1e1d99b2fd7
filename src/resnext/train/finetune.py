"""Fine-tuning: initialise model variables from `restore_path`, except `restore_exclude` prefixes.

The seed did this with tf.contrib's get_variables_to_restore + init_from_checkpoint; here it is a
Saver over the chosen variables, checked first: a variable that is missing from the checkpoint or
has another shape (outside the excluded set) fails with its name. Python 3.7, TF 1.15 API.
"""

import logging

from resnext import checkpoints, restore
from resnext.compat import tf
from resnext.config import ConfigError

log = logging.getLogger(__name__)


def model_variables():
    """Global variables of the model: no optimizer slots, no global_step."""
    return [
        v
        for v in tf.global_variables()
        if not v.op.name.endswith("/Momentum") and v.op.name != "global_step"
    ]


def excluded(name, prefixes):
    return any(name == p or name.startswith(p.rstrip("/") + "/") for p in prefixes)


def restore_plan(path, variables, exclude):
    """-> {checkpoint name: variable} to restore; ConfigError naming any missing/mis-shaped one."""
    checkpoints.require(path)
    shapes = restore.checkpoint_shapes(path)
    plan, problems = {}, []
    for var in variables:
        name = var.op.name
        if excluded(name, exclude):
            continue
        if name not in shapes:
            problems.append("%s is not in the checkpoint" % name)
        elif list(shapes[name]) != var.shape.as_list():
            problems.append(
                "%s has shape %s in the checkpoint but %s in the model"
                % (name, list(shapes[name]), var.shape.as_list())
            )
        else:
            plan[name] = var
    if problems:
        raise ConfigError(
            "restore_path %s: %s (add the variable's prefix to restore_exclude to skip it)"
            % (path, "; ".join(problems))
        )
    return plan


def restore_fn(cfg):
    """Build (in the current graph) a Saver for the plan; -> function(sess) that restores it."""
    plan = restore_plan(cfg.restore_path, model_variables(), list(cfg.restore_exclude))
    saver = tf.train.Saver(var_list=plan)

    def restore(sess):
        saver.restore(sess, cfg.restore_path)
        log.info(
            "initialised %d variables from %s (excluded prefixes: %s)",
            len(plan),
            cfg.restore_path,
            ", ".join(cfg.restore_exclude) or "none",
        )

    return restore
