"""What the peer scripts share: the median of repeated runs after two warm-up runs, in milliseconds, and the arguments that compare with the quick report."""
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


def add_comparison_arguments(parser, repeats=5):
    """--repeats, --ours (a quick-report JSON) and --threads, as the peer scripts that compare with the quick report take them."""
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--ours", help="quick-report JSON (--json) to compare with: fused rows of backend 'simd'")
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's own default)")


def apply_comparison_arguments(args, torch):
    """Sets torch's threads when asked; returns the quick report's fused simd rows as {loss: (ms, n)} (empty without --ours)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.ours:
        return {}
    import json
    with open(args.ours) as f:
        return {r["loss"]: (r["ms"], r["n"]) for r in json.load(f) if r["backend"] == "simd" and r["mode"] == "fused"}


def print_comparison(loss, torch_ms, ours, numel):
    """One row: torch's time, ours from the quick report (only when it ran the same number of elements) and the ratio."""
    mine, n = ours.get(loss, (None, None))
    if n is not None and n != numel:
        mine = None
    ratio = torch_ms / mine if mine else float("nan")
    print(f"{'loss':24s} {'torch ms':>10s} {'ours ms':>9s} {'x':>7s}")
    print(f"{loss:24s} {torch_ms:10.1f} {mine if mine else float('nan'):9.2f} {ratio:6.1f}x")
