#!/usr/bin/python3
"""The plots of a tern-ab result: side A against side B, as PNG files.

  apps/ab_plots.py DIR

Reads DIR/summary.json (written by tern-ab) and the run directories it lists,
and writes into DIR/plots/:
  fct_slowdown_cdf.png      CDF of FCT slowdown per side, all seeds pooled
                            (flows.csv of every run, `ok` flows only)
  slowdown_by_size.png      p50 and p99 slowdown per flow-size bucket: the
                            means over seeds from summary.json's metrics, so
                            the bars match the report's table; whiskers show
                            the lowest and highest seed
  bottleneck_throughput.png the bottleneck port's Gb/s over time
  bottleneck_queue.png      the bottleneck port's queued KB over time
                            (both from queues.csv of each side's first seed)
  cc_traces.png             window and rate of up to 4 sampled flows per side
                            (cc.csv of each side's first seed)

Prints one line per written file (its path relative to DIR) on stdout. A plot
whose input is missing or empty is skipped with one warning line on stderr;
the others are still written. Exit status: 0 when at least one plot was
written, 1 when none was, 2 for bad usage or an unreadable summary.json, 3 when
matplotlib cannot be imported (stderr: "matplotlib unavailable: REASON").
Needs Debian's python3-matplotlib and the standard library, nothing else.
"""
import csv
import json
import math
import os
import sys

# The order of tern-ab's report; buckets with no flows are absent.
BUCKETS = ["<10KB", "10KB-100KB", "100KB-1MB", "1MB-10MB", ">=10MB"]
SIDE_COLORS = ["tab:blue", "tab:orange", "tab:olive", "tab:cyan"]
# Flows get colours apart from the sides' so that a trace is not read as a side;
# 8 covers two sides that sample 4 different pairs each.
FLOW_COLORS = ["tab:green", "tab:red", "tab:purple", "tab:brown",
               "tab:pink", "tab:gray", "black", "gold"]
FLOW_STYLES = ["-", "--", "-.", ":"]
MAX_CC_FLOWS = 4
FIGSIZE = (8, 4.5)  # inches
DPI = 110

plt = None  # matplotlib.pyplot, imported in main() so that its absence is exit 3


class Skip(Exception):
    """Missing input: the plot, or one side of it, cannot be drawn."""


def warn(message):
    print(f"ab_plots: warning: {message}", file=sys.stderr)


def fail(message):
    """Bad usage or summary: exit 2 (exit 3 is reserved for a missing matplotlib)."""
    print(f"ab_plots: {message}", file=sys.stderr)
    sys.exit(2)


def number(text):
    """The float in text, or None for empty, malformed or non-finite text."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def read_csv(path):
    """The rows of a CSV file as dicts; Skip if it cannot be read."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise Skip(f"cannot read {path}: {e.strerror}") from e


def load_summary(root):
    path = os.path.join(root, "summary.json")
    try:
        with open(path) as f:
            summary = json.load(f)
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    except ValueError as e:
        fail(f"{path} is not valid JSON: {e}")
    if not isinstance(summary, dict) or not isinstance(summary.get("runs"), list):
        fail(f"{path} has no \"runs\" list; is it tern-ab's summary?")
    return summary


class Side:
    """One side of the comparison: its label, colour and run directories."""

    def __init__(self, key, label, color):
        self.key, self.label, self.color = key, label, color
        self.runs = []  # (seed, directory), in summary order

    def first_run(self):
        """(seed, directory) of the side's first run in summary order: the
        run whose deepest queue tern-ab names as the bottleneck."""
        if not self.runs:
            raise Skip(f"no runs for {self.label}")
        return self.runs[0]


def sides_of(summary, root):
    """The sides in summary order ("a" before "b", as tern-ab writes them)."""
    info = summary.get("sides") if isinstance(summary.get("sides"), dict) else {}
    runs = [run for run in summary["runs"] if isinstance(run, dict)]
    keys = list(info) + [run.get("side") for run in runs if run.get("side") not in info]
    sides = {}
    for key in dict.fromkeys(keys):  # unique, in order
        entry = info.get(key)
        label = entry.get("label") if isinstance(entry, dict) else None
        color = SIDE_COLORS[len(sides) % len(SIDE_COLORS)]
        sides[key] = Side(key, label or str(key).upper(), color)
    for run in runs:
        if isinstance(run.get("dir"), str):
            sides[run.get("side")].runs.append((run.get("seed"), os.path.join(root, run["dir"])))
    return list(sides.values())


def per_side(sides, load, plot):
    """[(side, load(side))] for the sides with data. A missing side is a
    warning that the plot lacks it; no side at all, one Skip with every reason."""
    loaded, reasons = [], []
    for side in sides:
        try:
            loaded.append((side, load(side)))
        except Skip as e:
            reasons.append(str(e))
    if not loaded:
        raise Skip("; ".join(reasons) or "no sides in summary.json")
    for reason in reasons:
        warn(f"{plot} drawn without one side: {reason}")
    return loaded


def new_figure(rows=1, cols=1, height=FIGSIZE[1], sharex=False):
    return plt.subplots(rows, cols, figsize=(FIGSIZE[0], height), dpi=DPI,
                        layout="constrained", squeeze=False, sharex=sharex)


def save(fig, root, name):
    """Writes the figure as DIR/plots/name."""
    try:
        # No Software entry: the PNG bytes then depend only on the data.
        fig.savefig(os.path.join(root, "plots", name), dpi=DPI, metadata={"Software": None})
    except (OSError, ValueError) as e:
        raise Skip(f"cannot write it: {e}") from e
    finally:
        plt.close(fig)


def pooled_slowdowns(side):
    """(sorted slowdowns of the ok flows of every seed, count of other flows).
    A seed without flows.csv drops the side: a partial pool would mislead."""
    values, not_ok = [], 0
    for _, run_dir in side.runs:
        for row in read_csv(os.path.join(run_dir, "flows.csv")):
            if row.get("status") != "ok":
                not_ok += 1  # unfinished rows carry no usable slowdown
                continue
            value = number(row.get("slowdown"))
            if value is not None and value > 0:  # the x axis is logarithmic
                values.append(value)
    if not values:
        raise Skip(f"no ok flows with a slowdown for {side.label}")
    return sorted(values), not_ok


def slowdown_cdf(root, sides):
    data = per_side(sides, pooled_slowdowns, "plots/fct_slowdown_cdf.png")
    fig, axes = new_figure()
    ax = axes[0][0]
    for side, (values, not_ok) in data:
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        # Flows that never finished are absent from the CDF: say how many.
        extra = f", {not_ok} failed/unfinished" if not_ok else ""
        ax.step(values, fractions, where="post", color=side.color,
                label=f"{side.label} ({len(values)} flows{extra})")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.01)
    ax.set_title("FCT slowdown CDF (all seeds pooled)")
    ax.set_xlabel("FCT slowdown (× ideal FCT, log scale)")
    ax.set_ylabel("fraction of flows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    save(fig, root, "fct_slowdown_cdf.png")


def bucket_means(summary, sides):
    """{(name, bucket, side key): (mean, per-seed values)} for p50 and p99."""
    table = {}
    for metric in summary.get("metrics") or []:
        if not isinstance(metric, dict) or metric.get("bucket") is None:
            continue
        if metric.get("name") not in ("slowdown_p50", "slowdown_p99"):
            continue
        for side in sides:
            stats = metric.get(side.key)
            if not isinstance(stats, dict):
                continue
            mean = number(stats.get("mean"))
            seeds = [v for v in map(number, stats.get("values") or []) if v is not None]
            if mean is not None and mean > 0:  # the y axis is logarithmic
                table[(metric["name"], metric["bucket"], side.key)] = (mean, seeds)
    return table


def slowdown_by_size(root, summary, sides):
    table = bucket_means(summary, sides)
    if not table:
        raise Skip("summary.json has no per-bucket slowdown_p50/p99 metrics")
    present = {bucket for _, bucket, _ in table}
    buckets = [b for b in BUCKETS if b in present] + sorted(present - set(BUCKETS))
    series = [(name, side) for name in ("slowdown_p50", "slowdown_p99") for side in sides]
    width = 0.8 / len(series)
    fig, axes = new_figure()
    ax = axes[0][0]
    for i, (name, side) in enumerate(series):
        xs, means, low, high = [], [], [], []
        for j, bucket in enumerate(buckets):
            if (name, bucket, side.key) not in table:
                continue
            mean, seeds = table[(name, bucket, side.key)]
            xs.append(j - 0.4 + width * (i + 0.5))
            means.append(mean)
            # Whiskers span the seeds; a lone seed gets none.
            low.append(mean - min(seeds) if len(seeds) > 1 else 0)
            high.append(max(seeds) - mean if len(seeds) > 1 else 0)
        p99 = name.endswith("p99")
        bars = ax.bar(xs, means, width, color=side.color, alpha=1.0 if p99 else 0.45,
                      hatch="//" if p99 else None, edgecolor="black", linewidth=0.5,
                      yerr=[low, high], error_kw={"elinewidth": 0.8, "capsize": 2},
                      label=f"{side.label} {name.split('_')[1]}")
        ax.bar_label(bars, fmt="%.3g", fontsize=6, padding=1)
    seeds = max(len(side.runs) for side in sides)
    ax.set_yscale("log")
    ax.set_xticks(range(len(buckets)), buckets)
    ax.set_title(f"Slowdown by flow size: p50 and p99, mean of {seeds} seeds "
                 "(whiskers: lowest and highest seed)", fontsize=10)
    ax.set_xlabel("flow size (bytes)")
    ax.set_ylabel("FCT slowdown (× ideal FCT, log scale)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    save(fig, root, "slowdown_by_size.png")


def port_series(side, port):
    """{seed, time_us, queue_kb, gbps} of port in the side's first run."""
    seed, run_dir = side.first_run()
    path = os.path.join(run_dir, "queues.csv")
    series = {"seed": seed, "time_us": [], "queue_kb": [], "gbps": []}
    for row in read_csv(path):
        if row.get("port") != port:
            continue
        t, q, g = (number(row.get(name)) for name in ("time_us", "queued_bytes", "gbps"))
        if None not in (t, q, g):
            series["time_us"].append(t)
            series["queue_kb"].append(q / 1000)  # KB as tern's size buckets count: 1000 bytes
            series["gbps"].append(g)
    if not series["time_us"]:
        raise Skip(f"port {port} has no samples in {path}")
    return series


def bottleneck_data(summary, sides):
    """(port, [(side, series)]), read once for both bottleneck plots; Skip
    (kept, to be raised by each plot) when there is nothing to draw."""
    port = summary.get("bottleneck_port")
    try:
        if not isinstance(port, str) or not port:
            raise Skip("summary.json names no bottleneck_port")
        data = per_side(sides, lambda side: port_series(side, port), "plots/bottleneck_*.png")
        return port, data
    except Skip as e:
        return port, e


def bottleneck_plot(root, port_data, name, key, what, unit):
    port, data = port_data
    if isinstance(data, Skip):
        raise data
    fig, axes = new_figure()
    ax = axes[0][0]
    for side, series in data:
        ax.plot(series["time_us"], series[key], color=side.color, linewidth=1,
                label=f"{side.label} (seed {series['seed']})")
    ax.set_title(f"Bottleneck port {port}: {what} (first seed of each side)")
    ax.set_xlabel("time (µs)")
    ax.set_ylabel(f"{what} ({unit})")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    save(fig, root, name)


def cc_flows(side):
    """(seed, window column, rate column, {(src, dst, qp): rows}) of the first
    4 sampled QPs of the side's first run (qp: which of a host pair's QPs,
    non-zero only over DPDK with --workers)."""
    seed, run_dir = side.first_run()
    path = os.path.join(run_dir, "cc.csv")
    rows = read_csv(path)
    if not rows:
        raise Skip(f"{path} has no samples")
    # The first column after time_us,src,dst,qp,gbps is the window, whatever its name.
    columns = list(rows[0])
    after_gbps = columns.index("gbps") + 1 if "gbps" in columns else len(columns)
    window = "window" if "window" in columns else columns[after_gbps] if len(columns) > after_gbps else None
    if window is None:
        raise Skip(f"{path} has no window column")
    flows = {}
    for row in rows:
        qp = (row.get("src"), row.get("dst"), row.get("qp", "0"))
        if qp in flows or len(flows) < MAX_CC_FLOWS:
            flows.setdefault(qp, []).append(row)
    # Window-based algorithms (NSCC) carry a rate_gbps column that stays 0;
    # the achieved rate says more there.
    has_rate = any(number(row.get("rate_gbps")) for rows in flows.values() for row in rows)
    return seed, window, "rate_gbps" if has_rate else "gbps", flows


def column(rows, name, scale=1.0):
    """The values of one column, NaN where missing so that the line breaks."""
    values = (number(row.get(name)) for row in rows)
    return [math.nan if v is None else v * scale for v in values]


def cc_traces(root, sides):
    data = per_side(sides, cc_flows, "plots/cc_traces.png")
    # One style per sampled QP, the same in every row: the sides replay one
    # workload, so they usually sample the same pairs.
    style_of = {}
    for _, (_, _, _, flows) in data:
        for qp in flows:
            style_of.setdefault(qp, len(style_of))
    # A shared time axis keeps the sides comparable; two rows need more height.
    fig, axes = new_figure(len(data), 2, height=max(FIGSIZE[1], 3 * len(data)), sharex=True)
    for row_axes, (side, (seed, window_column, rate_column, flows)) in zip(axes, data):
        window_ax, rate_ax = row_axes
        for (src, dst, qp), rows in flows.items():
            i = style_of[(src, dst, qp)]
            label = f"{src}→{dst}" if qp == "0" else f"{src}→{dst} qp {qp}"
            style = {"color": FLOW_COLORS[i % len(FLOW_COLORS)],
                     "linestyle": FLOW_STYLES[i % len(FLOW_STYLES)],
                     "linewidth": 1, "label": label}
            times = column(rows, "time_us")
            window_ax.plot(times, column(rows, window_column, 1 / 1000), **style)  # bytes to KB
            rate_ax.plot(times, column(rows, rate_column), **style)
        rate_name = "rate" if rate_column == "rate_gbps" else "achieved rate"
        window_ax.set_title(f"{side.label}: window (seed {seed})", fontsize=9)
        rate_ax.set_title(f"{side.label}: {rate_name} (seed {seed})", fontsize=9)
        window_ax.set_ylabel("window (KB)")
        rate_ax.set_ylabel(f"{rate_name} (Gb/s)")
        for ax in row_axes:
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
        rate_ax.legend(title="flow src→dst", fontsize=7, title_fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("time (µs)")
    fig.suptitle("Congestion control of sampled flows (first seed of each side)")
    save(fig, root, "cc_traces.png")


def main(argv):
    global plt
    if len(argv) != 2 or argv[1].startswith("-"):
        fail("usage: ab_plots.py DIR  (DIR holds tern-ab's summary.json)")
    root = argv[1]
    summary = load_summary(root)
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display: files only
        import matplotlib.pyplot
    except Exception as e:  # missing or broken, tern-ab reports it the same way
        print(f"matplotlib unavailable: {e}", file=sys.stderr)
        return 3
    plt = matplotlib.pyplot
    try:
        os.makedirs(os.path.join(root, "plots"), exist_ok=True)
    except OSError as e:
        fail(f"cannot create {os.path.join(root, 'plots')}: {e.strerror}")
    sides = sides_of(summary, root)
    port_data = bottleneck_data(summary, sides)
    plots = [
        ("fct_slowdown_cdf.png", lambda: slowdown_cdf(root, sides)),
        ("slowdown_by_size.png", lambda: slowdown_by_size(root, summary, sides)),
        ("bottleneck_throughput.png", lambda: bottleneck_plot(
            root, port_data, "bottleneck_throughput.png", "gbps", "throughput", "Gb/s")),
        ("bottleneck_queue.png", lambda: bottleneck_plot(
            root, port_data, "bottleneck_queue.png", "queue_kb", "queue", "KB")),
        ("cc_traces.png", lambda: cc_traces(root, sides)),
    ]
    written = 0
    for name, draw in plots:
        try:
            draw()
        except Skip as e:
            warn(f"skipping plots/{name}: {e}")
            continue
        print(f"plots/{name}")
        written += 1
    if not written:
        print("ab_plots: no plot written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
