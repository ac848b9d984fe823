#!/usr/bin/python3
"""Congestion-control scenarios on the simulated 400G fat tree, for every
algorithm: the full versions of apps/cc_scenarios_test.cc, as tables.

  tools/cc-scenarios.py [--out DIR] [--seed N | --seeds K|S1,S2,...] [--cc a,b,...]
                        [--replay PATH] [--baseline PATH] [--flags "TERN-REPLAY FLAGS"]
                        [--fabric-keys KEY=VALUE,...]

With one seed, the tables of every scenario. With --seeds, or with
--baseline (another tern-replay, e.g. a build of the commit before a change,
run on the same seeds), a summary instead: per figure and algorithm the
median over the seeds and its range, for each side, and the ratio of the two
medians; cc-scenarios.json then holds every seed's results per side.

Scenarios (default fabric: 128-host k=8 fat tree, 400 Gb/s, 1 us per hop,
one BDP of buffer per port, ECN between 20% and 80% of it):
  incast      8 senders x 2 MB to one host, 1-BDP buffer
  incast-deep the same with a 16 MB buffer per port (room for the whole burst)
  incast-trim the same with payload trimming on overflow
  fairness    4 long flows into one host, joining 150 us apart (three
              senders in the receiver's pod, one in another), each sized to
              leave 150 us after the last join, in join order, if the link
              were shared equally; Jain's index of the bytes each sent over a
              sliding window of two base RTTs (tern-replay's default
              --fairness-window), sampled every 5 us, and after each join and
              each leave the time until it holds >= 0.95 up to the next;
              for comparison, Jain over single 5 us intervals
  fairness-sym  the same with the 4 senders in 4 other pods (equal RTTs)
  spraying    the incast on a 16-host tree whose core link s8-s16 runs at a
              tenth of its rate, with 1 path and with 8

Writes DIR/cc-scenarios.md (tables) and DIR/cc-scenarios.json (every number
and every tern-replay command), keeps each run's outputs (JSON, CSV, timeline,
and the flow files the commands name) in DIR/runs/SIDE-seedN/, prints the
tables, and shows one line per run on stderr. HPCC runs on one path:
its per-hop records are per path (see docs/cc.md); in the spraying scenario its
8-path run is hpcc:paths=8, which keeps records per entropy.
"""
import argparse
import csv
import json
import shlex
import math
import statistics
import os
import shutil
import subprocess
import sys

ALGORITHMS = ["fixed", "dcqcn", "timely", "swift", "hpcc", "nscc"]
INCAST = "incast:senders=8,size=2000000"
FAIR_SENDERS = [4, 8, 12, 16]  # into host 0: three in its pod, one in another
FAIR_SENDERS_SYM = [16, 32, 48, 64]  # one in each of 4 other pods
FAIR_STEP_US = 150  # between joins, and between leaves under equal shares
LINE_BYTES_PER_US = 50_000  # 400 Gb/s
JAIN_TARGET = 0.95
TIMELINE_US = 5


def fair_flows(senders):
    """(sender, start us, bytes): flow i joins at i steps and, were the link
    shared equally among the flows running, would leave at n + i steps, so
    all n run together for one step and then leave one by one."""
    n = len(senders)
    running = lambda k: sum(1 for j in range(n) if j <= k < j + n)  # in step k
    return [(src, i * FAIR_STEP_US,
             round(sum(LINE_BYTES_PER_US * FAIR_STEP_US / running(k) for k in range(i, i + n))))
            for i, src in enumerate(senders)]


def paths_for(cc):
    return "1" if cc == "hpcc" else "8"


def with_fabric_keys(fabric, keys):
    """The scenario's --fabric spec with the user's extra keys appended."""
    if not keys:
        return fabric
    return f"{fabric}{',' if ':' in fabric else ':'}{keys}"


class Runner:
    def __init__(self, replay, seed, work, flags=(), fabric_keys=""):
        self.replay, self.seed, self.work, self.flags = replay, seed, work, list(flags)
        self.fabric_keys = fabric_keys
        self.count = 0

    def run(self, name, fabric, workload, cc, paths, timeline=False, extra=()):
        """Runs tern-replay; returns (summary JSON, flow rows, fairness rows, command)."""
        self.count += 1
        tag = f"{self.count:03d}-{name}-{cc}"
        out = os.path.join(self.work, tag)
        fabric = with_fabric_keys(fabric, self.fabric_keys)
        cmd = [self.replay, f"--fabric={fabric}", f"--workload={workload}", f"--cc={cc}",
               "--paths", paths, "--seed", str(self.seed), "--quiet",
               "--json", out + ".json", "--csv", out + ".csv", *self.flags]
        if timeline:
            cmd += ["--timeline", out, "--timeline-interval", str(TIMELINE_US), *extra]
        print(f"  [{self.count}] {name} cc={cc} paths={paths}", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode not in (0, 3):  # 3: some flow unfinished, still a result
            sys.exit(f"cc-scenarios: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
        with open(out + ".json") as f:
            summary = json.load(f)
        with open(out + ".csv") as f:
            flows = list(csv.DictReader(f))
        samples = []
        if timeline:
            with open(os.path.join(out, "fairness.csv")) as f:
                samples = list(csv.DictReader(f))
        return summary, flows, samples, " ".join(cmd)


def incast_row(summary, flows):
    # The last byte of 8 x 2 MB leaves the bottleneck after all their wire
    # bytes; the ideal of the incast is that plus one base RTT.
    wire_us = sum(float(f["ideal_us"]) for f in flows)
    # Each flow's own ideal is its wire time (2 MB plus 102 header bytes per
    # 4096-byte packet at 400 Gb/s) plus its base RTT.
    rtts = [float(f["ideal_us"]) - 2_000_000 * (1 + 102 / 4096) * 8 / 400e3 for f in flows]
    ideal_us = wire_us - sum(rtts) + max(rtts)
    sw, rt = summary["switch"], summary["retransmits"]
    return {
        "completed": summary["flows"]["completed"], "flows": summary["flows"]["total"],
        "max_fct_us": summary["fct_us"]["max"], "p50_fct_us": summary["fct_us"]["p50"],
        "ideal_us": round(ideal_us, 1),
        "queue_max_bytes": sw["queue_max_bytes"], "queue_p50_bytes": sw["queue_p50_bytes"],
        "queue_p99_bytes": sw["queue_p99_bytes"],
        "dropped": sw["dropped"], "trimmed": sw["trimmed"], "ecn_marked": sw["ecn_marked"],
        "retransmits": rt["packets"], "timeouts": rt["timeout"],
    }


def fairness(flows, points_csv, window_us):
    """Summarises tern-replay's fairness.csv (Jain's index per sample over window_us)."""
    stalled = sum(1 for p in points_csv if p["stalled"] == "1")
    points = [(float(p["time_us"]), int(p["active"]), float(p["jain"]))
              for p in points_csv if p["stalled"] == "0"]
    spans = [(float(f["start_us"]),
              float(f["finish_us"]) if f["status"] == "ok" else float("inf")) for f in flows]
    # Per join after the first and per leave that leaves two or more flows
    # running, the time from it until Jain is >= target at every sample up to
    # the next join or leave: the index has settled, not merely touched the
    # target once (a newcomer's first window, sent at line rate, often does
    # that by chance). Only samples whose window starts at or after the event
    # count. None when it never settles, or the next event comes within a
    # window of it.
    starts = sorted(s for s, _ in spans)
    ends = sorted(e for _, e in spans if e != float("inf"))
    times = sorted(set(starts) | set(ends))
    running = lambda t: sum(1 for s, e in spans if s <= t < e)
    events = [("join", s) for s in starts[1:]] + [("leave", e) for e in ends if running(e) >= 2]
    converge = []
    for kind, at in sorted(events, key=lambda ev: ev[1]):
        nxt = min([t for t in times if t > at] + [float("inf")])
        seg = [(t, v) for t, n, v in points if at + window_us <= t <= nxt and n >= 2]
        below = [i for i, (_, v) in enumerate(seg) if v < JAIN_TARGET]
        start = below[-1] + 1 if below else 0
        converge.append({"event": kind, "at_us": round(at, 1),
                         "us": round(seg[start][0] - at, 1) if start < len(seg) else None})
    multi = sorted(v for _, n, v in points if n >= 2)
    return {
        "jain_median": round(multi[len(multi) // 2], 3) if multi else None,
        "jain_min": round(multi[0], 3) if multi else None,
        "share_at_or_above_target": round(sum(v >= JAIN_TARGET for v in multi) / len(multi), 3)
        if multi else None,
        "convergence": converge,
        "stalled_samples": stalled,
    }


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def parse_seeds(text):
    """'5' is seeds 1..5; '3,7,9' is those seeds."""
    try:
        seeds = ([int(x) for x in text.split(",")] if "," in text
                 else list(range(1, int(text) + 1)))
    except ValueError:
        seeds = []
    if not seeds or any(x < 1 for x in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"'{text}': a count K (seeds 1..K) or distinct positive seeds joined by commas")
    return seeds


def run_scenarios(replay, seed, algos, work, flags=(), fabric_keys=""):
    """Every scenario for every algorithm with one tern-replay and one seed,
    its outputs in the directory `work` (emptied first)."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    r = Runner(replay, seed, work, flags, fabric_keys)
    results = {"seed": seed, "replay": replay, "commands": {}, "incast": {}, "incast-deep": {},
               "incast-trim": {}, "spraying": {}}
    fair_files = {}
    for name, senders in [("fairness", FAIR_SENDERS), ("fairness-sym", FAIR_SENDERS_SYM)]:
        fair_files[name] = os.path.join(work, name + ".flows")
        with open(fair_files[name], "w") as f:
            for i, (src, start_us, size) in enumerate(fair_flows(senders)):
                f.write(f"{src}->0 id {i + 1} start {start_us * 1_000_000} size {size}\n")
        results[name] = {}

    for cc in algos:
        p = paths_for(cc)
        for name, fabric in [("incast", "sim"), ("incast-deep", "sim:buffer=16000000"),
                             ("incast-trim", "sim:trim=1")]:
            s, fl, _, cmd = r.run(name, fabric, INCAST, cc, p)
            results[name][cc] = incast_row(s, fl)
            results["commands"][f"{name}/{cc}"] = cmd
        for name, path in fair_files.items():
            # Jain over two base RTTs (tern-replay's default window), then over
            # single 5 us intervals for comparison.
            s, fl, samples, cmd = r.run(name, "sim", f"flows:{path}", cc, p, timeline=True)
            _, _, short, cmd_short = r.run(name, "sim", f"flows:{path}", cc, p, timeline=True,
                                           extra=["--fairness-window", str(TIMELINE_US)])
            # tern-replay's window: two of the fabric's longest base RTTs, rounded
            # up to whole sampling intervals.
            rtt = s["config"]["base_rtt_us"]
            window = math.ceil(round(2 * rtt / TIMELINE_US, 6)) * TIMELINE_US
            results[name][cc] = {"base_rtt_us": round(rtt, 3), "window_us": window,
                                 **fairness(fl, samples, window),
                                 "per_interval": fairness(fl, short, TIMELINE_US)}
            results["commands"][f"{name}/{cc}"] = cmd
            results["commands"][f"{name}/{cc}/per-interval"] = cmd_short
        spray = {}
        for paths in ["1", "8"]:
            # Sprayed, HPCC needs its records per entropy (paths=N).
            spray_cc = f"{cc}:paths={paths}" if cc == "hpcc" and paths != "1" else cc
            s, fl, _, cmd = r.run("spraying", "sim:hosts=16,fail=s8-s16@0:slow=0.1", INCAST,
                                  spray_cc, paths)
            spray[paths] = {"max_fct_us": s["fct_us"]["max"], "p50_fct_us": s["fct_us"]["p50"],
                            "completed": s["flows"]["completed"], "retransmits": s["retransmits"]["packets"]}
            results["commands"][f"spraying/{cc}/paths={paths}"] = cmd
        results["spraying"][cc] = spray

    return results


def seed_tables(results):
    """The tables of one seed's results."""
    md = []
    for name, title in [("incast", "8:1 incast of 2 MB, 1-BDP buffer (625,500 B)"),
                        ("incast-deep", "8:1 incast of 2 MB, 16 MB buffer"),
                        ("incast-trim", "8:1 incast of 2 MB, 1-BDP buffer, trimming")]:
        rows = [[cc, f"{v['completed']}/{v['flows']}", v["max_fct_us"], v["ideal_us"],
                 round(v["max_fct_us"] / v["ideal_us"], 2), v["queue_max_bytes"],
                 v["queue_p50_bytes"], v["queue_p99_bytes"], v["dropped"], v["trimmed"],
                 v["timeouts"]]
                for cc, v in results[name].items()]
        md += [f"## {title}", "", md_table(
            ["cc", "done", "max FCT us", "ideal us", "max/ideal", "queue max B", "queue p50 B",
             "queue p99 B", "drops", "trims", "RTO retx"], rows), ""]
    conv = lambda v: " / ".join(
        ("+" if c["event"] == "join" else "-") +
        ("never" if c["us"] is None else f"{c['us']:g} ({c['us'] / v['base_rtt_us']:.1f})")
        for c in v["convergence"])
    sizes = " / ".join(f"{b / 1e6:g}" for _, _, b in fair_flows(FAIR_SENDERS))
    for name, title in [("fairness", f"4 flows ({sizes} MB) into one host, joining "
                                     f"{FAIR_STEP_US} us apart"),
                        ("fairness-sym", "the same, the 4 senders in 4 other pods")]:
        rows = [[cc, v["jain_median"], v["jain_min"], v["share_at_or_above_target"], conv(v),
                 v["per_interval"]["jain_median"], v["per_interval"]["share_at_or_above_target"],
                 conv({**v["per_interval"], "base_rtt_us": v["base_rtt_us"]}),
                 v["stalled_samples"]]
                for cc, v in results[name].items()]
        first = next(iter(results[name].values()), {"window_us": 0, "base_rtt_us": 0})
        window, rtt = first["window_us"], first["base_rtt_us"]
        md += [f"## Fairness: {title}", "",
               f"Jain's index every {TIMELINE_US} us over the bytes each running flow sent in "
               f"the last {window:g} us (two of the fabric's longest base RTT, {rtt:g} us, "
               f"rounded up to whole intervals) and, "
               f"for comparison, in the last {TIMELINE_US} us alone. Convergence: us (base "
               f"RTTs) from each join (+) and each leave (-), in time order, until Jain stays "
               f">= {JAIN_TARGET} up to the next ('never': it does not); a leave that "
               "leaves one flow running is not listed. Each flow is sized to leave "
               f"{FAIR_STEP_US} us after the last join, in join order, if the link were "
               "shared equally. A new flow enters the index one window after it joins. "
               "Stalled: samples in which every running flow sent nothing (left out of the "
               "statistics).", "",
               md_table(["cc", "Jain median", "Jain min", f"share >= {JAIN_TARGET}",
                         "convergence us (RTTs)", f"{TIMELINE_US} us: median",
                         f"{TIMELINE_US} us: share", f"{TIMELINE_US} us: convergence",
                         "stalled"], rows), ""]
    rows = [[cc, v["1"]["max_fct_us"], v.get("8", {}).get("max_fct_us", "-")]
            for cc, v in results["spraying"].items()]
    md += ["## Spraying: incast on a 16-host tree, core link s8-s16 at 10% rate", "",
           md_table(["cc", "max FCT us, 1 path", "max FCT us, 8 paths"], rows),
           "", "hpcc's 8-path run is `hpcc:paths=8` (INT records per entropy).", ""]
    return md


# The figures the summary over seeds compares: (heading, scenario, field).
SUMMARY_FIELDS = [
    ("incast max FCT us", "incast", lambda v: v["max_fct_us"]),
    ("incast-deep max FCT us", "incast-deep", lambda v: v["max_fct_us"]),
    ("incast-trim max FCT us", "incast-trim", lambda v: v["max_fct_us"]),
    ("spraying 1 path max FCT us", "spraying", lambda v: v["1"]["max_fct_us"]),
    ("spraying 8 paths max FCT us", "spraying", lambda v: v["8"]["max_fct_us"]),
    ("fairness Jain median", "fairness", lambda v: v["jain_median"]),
    ("fairness-sym Jain median", "fairness-sym", lambda v: v["jain_median"]),
]


def summary_tables(sides, seeds, algos):
    """Per figure, per algorithm: the median over seeds and the range, for
    each side (baseline first); with two sides, also the ratio of medians."""
    def fmt(x):
        return f"{x:.3g}" if abs(x) < 10 else f"{x:.0f}"
    md = []
    names = list(sides)
    for heading, scenario, get in SUMMARY_FIELDS:
        header = ["cc"] + [f"{n}: median (min-max)" for n in names]
        if len(names) == 2:
            header.append(f"{names[1]} / {names[0]}")
        rows = []
        for cc in algos:
            row, medians = [cc], []
            for n in names:
                values = [get(res[scenario][cc]) for res in sides[n]]
                if any(x is None for x in values):
                    row.append("-")
                    medians.append(None)
                    continue
                m = statistics.median(values)
                medians.append(m)
                row.append(f"{fmt(m)} ({fmt(min(values))}-{fmt(max(values))})")
            if len(names) == 2:
                row.append(f"{medians[1] / medians[0]:.2f}" if all(medians) else "-")
            rows.append(row)
        md += [f"## {heading}, seeds {','.join(map(str, seeds))}", "", md_table(header, rows), ""]
    return md


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="cc-scenarios")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=parse_seeds,
                    help="run every seed of K (1..K) or of a list, and report medians")
    ap.add_argument("--cc", default=",".join(ALGORITHMS))
    ap.add_argument("--replay", default=os.path.join(root, "build", "apps", "tern-replay"))
    ap.add_argument("--flags", default="",
                    help="more tern-replay flags for every run, e.g. \"--pull-window 152\" "
                    "(not --fabric, --seed or --paths, which each scenario sets)")
    ap.add_argument("--fabric-keys", default="",
                    help="more --fabric=sim keys for every scenario, e.g. jitter=0.002 "
                    "(2 ns per link: breaks the exact phase lock of equal links; "
                    "docs/simulator.md); not one a scenario sets (hosts, buffer, trim, fail)")
    ap.add_argument("--baseline", help="another tern-replay (e.g. a build of the commit before "
                    "a change), run on the same seeds; the summary puts the two side by side")
    a = ap.parse_args()
    if a.seed < 1:
        ap.error("--seed must be a positive integer")
    algos = [c for c in a.cc.split(",") if c]
    if not algos:
        ap.error("--cc names no algorithm")
    sides = {}
    if a.baseline:
        sides["baseline"] = a.baseline
    sides["replay"] = a.replay
    for path in sides.values():
        if not os.access(path, os.X_OK):
            sys.exit(f"cc-scenarios: {path} missing; build first (tools/test.sh or ninja -C build)")
    seeds = a.seeds or [a.seed]
    os.makedirs(a.out, exist_ok=True)
    flags = shlex.split(a.flags)
    runs = {name: [run_scenarios(path, s, algos, os.path.join(a.out, "runs", f"{name}-seed{s}"),
                                 flags, a.fabric_keys) for s in seeds]
            for name, path in sides.items()}
    md = [f"# Congestion-control scenarios (seed{'s' if len(seeds) > 1 else ''} "
          f"{','.join(map(str, seeds))})", "",
          "Command: `tools/cc-scenarios.py " + " ".join(sys.argv[1:]) + "`; every tern-replay "
          "command is in cc-scenarios.json.", ""]
    if len(seeds) > 1 or len(sides) > 1:
        md += [f"Sides: " + ", ".join(f"{n} = `{p}`" for n, p in sides.items()) + ".", ""]
        md += summary_tables(runs, seeds, algos)
    else:
        md += seed_tables(runs["replay"][0])
    results = runs["replay"][0] if len(seeds) == 1 and len(sides) == 1 else runs
    text = "\n".join(md)
    with open(os.path.join(a.out, "cc-scenarios.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "cc-scenarios.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
