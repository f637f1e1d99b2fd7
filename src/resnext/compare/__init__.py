"""`resnext compare RUN_A RUN_B --out DIR`: what differs between two runs and whether their
accuracies differ beyond chance (resnext.compare.build); the repeats summary (repeats)."""

from resnext.compare.build import compare, write_compare
from resnext.compare.runs import CompareError

__all__ = ["CompareError", "compare", "write_compare"]
