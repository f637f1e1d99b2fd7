"""Wilson score intervals for the rates the audit shows (top-1, top-5 over the validation images).

The Wilson interval keeps its coverage near the nominal level for rates near 0 or 1 and for few
images, where the normal approximation (p ± z·se) does not, and it never leaves [0, 1].
Runs in the Ascend container (evaluation writes the intervals): Python 3.7, standard library only.
"""

import math

LEVEL = 0.95
Z95 = 1.959963984540054  # the standard normal's 0.975 quantile


def wilson(successes, n, z=Z95):
    """[low, high] (fractions) of the Wilson score interval of `successes` of `n`;
    None when n is 0."""
    if not n:
        return None
    p = float(successes) / n
    z2 = z * z
    centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n)
    half = z / (1.0 + z2 / n) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    return [max(0.0, centre - half), min(1.0, centre + half)]


def rate_interval(record, key):
    """The 95% interval of rate `key` ('top1', 'top5') of an eval record: its `<key>_ci95` when it
    has one, else computed from the rate and num_images (results written before intervals were);
    None when neither is known."""
    stored = record.get(key + "_ci95")
    if isinstance(stored, list) and len(stored) == 2:
        return stored
    n, rate = record.get("num_images"), record.get(key)
    if not isinstance(n, int) or n <= 0 or not isinstance(rate, (int, float)):
        return None
    return wilson(int(round(rate * n)), n)
