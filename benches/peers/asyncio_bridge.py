#!/usr/bin/env python3
"""The asyncio peer of loopbridge's benchmarks: the same cases, done the Python way.

An event loop runs in a background thread (asyncio's default loop, and uvloop's when
uvloop is installed) and the main thread talks to it:

- round_trip:   asyncio.run_coroutine_threadsafe(coro(), loop).result()
- round_trip_one_cpu: the same, with the caller and the loop thread on one CPU
- run_callback: Home Assistant's run_callback_threadsafe (call_soon_threadsafe plus a
                concurrent.futures.Future the callback resolves)
- call_soon:    loop.call_soon_threadsafe(queue.put, 1), then queue.get()
- throughput_T: T threads each submit N run_coroutine_threadsafe jobs, then wait for all
- offload_thread_pool: `await loop.run_in_executor(None, f)` back to back inside one
                coroutine on the loop (the default ThreadPoolExecutor)
- pending_bytes: Python heap (tracemalloc) held per pending run_coroutine_threadsafe job

Output: one line per case and loop, space-separated key=value fields, for example

    case=round_trip loop=asyncio ns_per_op=41234.5 spread=0.041 batches=15 ops_per_batch=500

ns_per_op is the median over batches, spread the batches' interquartile range relative to
that median; the loops' batches alternate, so noise hits each alike. The single-caller
cases pin their threads as the Rust side does (benches/support/placement.rs): the caller
on one CPU and the loop threads on another ("split"), or all on one CPU ("shared"). Lines starting with `#` are for humans. A loop that cannot run says so with
`loop=uvloop skipped=not-installed`.

Usage: python3 benches/peers/asyncio_bridge.py [--quick] [CASE...]
"""

import asyncio
import concurrent.futures
import contextlib
import os
import platform
import queue
import statistics
import sys
import threading
import time
import tracemalloc

QUICK = "--quick" in sys.argv[1:]
# Case names (or parts of them) to run; all cases when none is given.
FILTERS = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
BATCHES = 5 if QUICK else 15
BATCH_TARGET_NS = 10_000_000 if QUICK else 20_000_000
THROUGHPUT_JOBS = 1_000  # per submitting thread
PENDING_JOBS = 2_000 if QUICK else 10_000


class LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self, new_loop):
        self.loop = new_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait()

    def _run(self, ready):
        self.native_id = threading.get_native_id()
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


async def trivial():
    return 1


def one():
    return 1


def run_callback_threadsafe(loop, callback):
    """Home Assistant's helper: run a plain callback on the loop, get a Future back."""
    future = concurrent.futures.Future()

    def run():
        try:
            future.set_result(callback())
        except BaseException as error:  # delivered to the waiter, as HA does
            future.set_exception(error)

    loop.call_soon_threadsafe(run)
    return future


# Each case builder takes a loop and returns (ops_per_unit, run) where run(units) runs
# that many units and returns the nanoseconds they took.


def round_trip(loop):
    def run(units):
        started = time.perf_counter_ns()
        for _ in range(units):
            asyncio.run_coroutine_threadsafe(trivial(), loop).result()
        return time.perf_counter_ns() - started

    return 1, run


def run_callback(loop):
    def run(units):
        started = time.perf_counter_ns()
        for _ in range(units):
            run_callback_threadsafe(loop, one).result()
        return time.perf_counter_ns() - started

    return 1, run


def call_soon(loop):
    replies = queue.SimpleQueue()

    def run(units):
        started = time.perf_counter_ns()
        for _ in range(units):
            loop.call_soon_threadsafe(replies.put, 1)
            replies.get()
        return time.perf_counter_ns() - started

    return 1, run


def throughput(threads):
    def build(loop):
        def submit_and_wait_all():
            pending = [
                asyncio.run_coroutine_threadsafe(trivial(), loop)
                for _ in range(THROUGHPUT_JOBS)
            ]
            for future in pending:
                future.result()

        def run(units):
            started = time.perf_counter_ns()
            for _ in range(units):
                workers = [
                    threading.Thread(target=submit_and_wait_all) for _ in range(threads)
                ]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
            return time.perf_counter_ns() - started

        return threads * THROUGHPUT_JOBS, run

    return build


def offload_thread_pool(loop):
    async def back_to_back(units):
        started = time.perf_counter_ns()
        for _ in range(units):
            await loop.run_in_executor(None, one)
        return time.perf_counter_ns() - started

    def run(units):
        return asyncio.run_coroutine_threadsafe(back_to_back(units), loop).result()

    return 1, run


# (name, builder, placement of the caller and the loop threads)
CASES = [
    ("round_trip", round_trip, "split"),
    ("run_callback", run_callback, "split"),
    ("call_soon", call_soon, "split"),
    ("round_trip_one_cpu", round_trip, "shared"),
    ("throughput_1", throughput(1), "split"),
    ("throughput_2", throughput(2), "free"),
    ("throughput_4", throughput(4), "free"),
    ("offload_thread_pool", offload_thread_pool, "free"),
]


@contextlib.contextmanager
def placed(placement, loops):
    """Pins this thread and the loop threads ("split": on two CPUs, "shared": on one)
    for the duration; yields how the threads were placed."""
    if placement == "free":
        yield "free"
        return
    if not hasattr(os, "sched_setaffinity"):
        yield "free (no sched_setaffinity)"
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield "free (one CPU)"
        return
    caller_cpu = cpus[0]
    loop_cpu = cpus[1] if placement == "split" else cpus[0]
    threads = [threading.get_native_id()] + [loop.native_id for _, loop in loops]
    try:
        os.sched_setaffinity(threads[0], {caller_cpu})
        for thread in threads[1:]:
            os.sched_setaffinity(thread, {loop_cpu})
        yield placement
    finally:
        for thread in threads:
            os.sched_setaffinity(thread, set(cpus))


def wanted(name):
    return not FILTERS or any(part in name for part in FILTERS)


def units_per_batch(ops_per_unit, run):
    """Enough units for a batch of about BATCH_TARGET_NS (after a warm-up)."""
    run(1)
    units = 1
    while True:
        elapsed = run(units)
        if elapsed * 4 >= BATCH_TARGET_NS or units >= 1 << 20:
            return max(1, int(units * BATCH_TARGET_NS / max(elapsed, 1)))
        units *= 4


def measure(name, build, placement, loops):
    """Median ns/op per loop, from batches that alternate between the loops."""
    with placed(placement, loops) as how:
        measure_placed(name, build, how, loops)


def measure_placed(name, build, placement, loops):
    runners = []
    for loop_name, loop_thread in loops:
        ops_per_unit, run = build(loop_thread.loop)
        runners.append((loop_name, ops_per_unit, run, units_per_batch(ops_per_unit, run)))
    samples = {loop_name: [] for loop_name, *_ in runners}
    for batch in range(BATCHES):
        # Rotate the order, so no loop always runs first (on a warmer or colder machine).
        order = runners[batch % len(runners):] + runners[:batch % len(runners)]
        for loop_name, ops_per_unit, run, units in order:
            samples[loop_name].append(run(units) / (units * ops_per_unit))
    for loop_name, ops_per_unit, _, units in runners:
        median = statistics.median(samples[loop_name])
        q1, _, q3 = statistics.quantiles(samples[loop_name], n=4, method="inclusive")
        print(
            f"case={name} loop={loop_name} ns_per_op={median:.1f} "
            f"spread={(q3 - q1) / median:.3f} "
            f"batches={BATCHES} ops_per_batch={units * ops_per_unit} "
            f"placement={placement.replace(' ', '_')}",
            flush=True,
        )


async def never():
    await asyncio.get_running_loop().create_future()


def pending_bytes(loop_name, loop):
    """Python heap held per pending run_coroutine_threadsafe job (tracemalloc)."""
    pending = [None] * PENDING_JOBS
    asyncio.run_coroutine_threadsafe(trivial(), loop).result()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for index in range(PENDING_JOBS):
        pending[index] = asyncio.run_coroutine_threadsafe(never(), loop)
    # FIFO: once this job is done, every earlier one has started and is parked.
    asyncio.run_coroutine_threadsafe(trivial(), loop).result()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    for future in pending:
        future.cancel()
    asyncio.run_coroutine_threadsafe(trivial(), loop).result()
    print(
        f"case=pending_bytes loop={loop_name} "
        f"bytes_per_pending={(after - before) / PENDING_JOBS:.1f} jobs={PENDING_JOBS}",
        flush=True,
    )


def main():
    loops = [("asyncio", LoopThread(asyncio.new_event_loop))]
    try:
        import uvloop
    except ImportError:
        uvloop = None
    print(
        f"info python={platform.python_version()} "
        f"uvloop={uvloop.__version__ if uvloop else 'missing'}",
        flush=True,
    )
    if uvloop is None:
        print("# uvloop is not installed (pip install uvloop): its cases are skipped")
        print("loop=uvloop skipped=not-installed", flush=True)
    else:
        loops.append(("uvloop", LoopThread(uvloop.new_event_loop)))
    for name, build, placement in CASES:
        if wanted(name):
            measure(name, build, placement, loops)
    if wanted("pending_bytes"):
        for loop_name, loop_thread in loops:
            pending_bytes(loop_name, loop_thread.loop)
    for _, loop_thread in loops:
        loop_thread.close()


if __name__ == "__main__":
    main()
