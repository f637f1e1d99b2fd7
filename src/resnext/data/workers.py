"""Conversion across worker processes: each runs a ShardPipeline over tasks it takes
from a shared queue.

The parent puts every task on a queue (then one stop marker per worker) and starts `workers` spawned
processes (clean interpreters: no TensorFlow threads inherited, nothing imported but what
conversion needs). Each takes the next task when it is ready for one, so shards that an earlier run
finished (reused in a moment) do not leave a worker idle. Workers send back progress (image counts,
batched) and each stored shard's sidecar on an event queue. A worker's error reaches the parent
through its future; the parent then tells the other workers to stop taking tasks. A worker whose
parent died (SIGKILL) ends itself before its next image, or within 0.1 s when idle. Host only.
"""

from concurrent import futures
import multiprocessing
import os
import queue as queues
import threading
import time

from resnext.data import shardwriter

_WORKER = {}  # set in each worker process by _init


class _Events:
    """Worker side: batched progress counts and shard results onto the parent's event queue."""

    def __init__(self, events, parent, every=0.5):
        self._events, self._parent, self._every = events, parent, every
        self._pending, self._last = 0, time.monotonic()

    def progress(self, n):
        if os.getppid() != self._parent:  # checked per image: an orphan stops before its next one
            os._exit(3)
        self._pending += n
        now = time.monotonic()
        if now - self._last >= self._every:
            self.flush()
            self._last = now

    def flush(self):
        if self._pending:
            self._events.put(("progress", self._pending))
            self._pending = 0

    def done(self, index, side, reused):
        self.flush()
        self._events.put(("done", index, side, reused))


def _watch_parent(parent, every=0.1):
    """Worker thread: end this process when the converting parent is gone (e.g. SIGKILLed).

    Between images (storing a shard, waiting for work) nothing else would notice, and a worker left
    behind would wait forever (it holds both ends of its queues). A shard it was storing stays a
    temp file, which the next run removes.
    """
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(3)


def _init(tasks, events, stop, parent):
    _WORKER.update(tasks=tasks, stop=stop, events=_Events(events, parent))
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def _worker_loop(label_map):
    """Run tasks from the shared queue until a stop marker (or the parent's stop);
    returns how many."""
    events = _WORKER["events"]
    count = 0
    with shardwriter.ShardPipeline(label_map, events.progress, events.done) as pipeline:
        while not _WORKER["stop"].is_set():
            job = _WORKER["tasks"].get()
            if job is None:
                break
            pipeline.run(*job)
            count += 1
        pipeline.finish()
    events.flush()
    return count


def _drain(events, progress, on_done, timeout=0.05):
    """Handle the events that arrive within `timeout` s; returns how many shards were done."""
    done = 0
    while True:
        try:
            event = events.get(timeout=timeout)
        except queues.Empty:
            return done
        if event[0] == "progress":
            progress.update(event[1])
        else:
            on_done(*event[1:])
            done += 1


def _start(tasks, workers, context):
    task_queue, events, stop = context.Queue(), context.Queue(), context.Event()
    for job in enumerate(tasks):
        task_queue.put(job)
    for _ in range(workers):
        task_queue.put(None)
    pool = futures.ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init,
        initargs=(task_queue, events, stop, os.getpid()),
    )
    return pool, events, stop


def run_parallel(tasks, label_map, workers, progress, on_done, settle_seconds=60.0):
    """Convert `tasks` on `workers` processes; on_done(index, sidecar, reused) in this
    thread per shard."""
    workers = min(workers, len(tasks))
    pool, events, stop = _start(tasks, workers, multiprocessing.get_context("spawn"))
    done = 0
    try:
        pending = {pool.submit(_worker_loop, label_map) for _ in range(workers)}
        while pending:
            done += _drain(events, progress, on_done)
            finished, pending = futures.wait(
                pending, timeout=0, return_when=futures.FIRST_COMPLETED
            )
            for job in finished:
                job.result()  # a worker's exception is raised here
        deadline = time.monotonic() + settle_seconds  # the last events may still be in the pipe
        while done < len(tasks) and time.monotonic() < deadline:
            done += _drain(events, progress, on_done, timeout=0.5)
        if done < len(tasks):
            raise RuntimeError("workers finished but reported %d of %d shards" % (done, len(tasks)))
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
