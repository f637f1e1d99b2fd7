"""`resnext verify` vs `sha256sum` over the same bytes (the files verify hashed, page cache warm).

    python benchmarks/bench_verify.py [RUN_DIR]    (default results/demo; run it under the CPU lock)

Prints both times, MB/s and the ratio (goal: verify >= 0.9x sha256sum's speed) and the load average.
"""

import os
import subprocess
import sys
import time

from resnext import verify


def main(argv):
    run_dir = argv[0] if argv else "results/demo"
    out = verify.verify(run_dir)  # warms the page cache: both timings read from memory
    t0 = time.perf_counter()
    out = verify.verify(run_dir)
    t_verify = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(["sha256sum", "--"] + out.files_hashed, check=True, stdout=subprocess.DEVNULL)
    t_sum = time.perf_counter() - t0
    mb = out.bytes_hashed / 1e6
    print(
        "%d files, %.1f MB; verify %.2f s (%.0f MB/s), sha256sum %.2f s (%.0f MB/s); "
        "ratio %.2fx; %d mismatches; load average %s"
        % (
            len(out.files_hashed),
            mb,
            t_verify,
            mb / t_verify,
            t_sum,
            mb / t_sum,
            t_sum / t_verify,
            len(out.mismatches),
            " ".join("%.2f" % x for x in os.getloadavg()),
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
