"""The timing both peer scripts use: the median of repeated runs after two warm-up runs, in milliseconds."""
import statistics
import time


def median_ms(fn, repeats):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
