#!/usr/bin/env python3
"""tern-ab end to end, on a small incast: the report, the summary and the plots
exist and agree (every number in report.md's tables is the number in
summary.json, printed as %.4g); a second invocation reuses every run and gives
the same summary; A against itself is "negligible" on every
metric; bad flags exit 2 with a message.

usage: tern_ab_test.py TERN_AB"""
import json
import os
import re
import subprocess
import sys
import tempfile

AB = sys.argv[1]
SCENARIO = ["--fabric=sim:topology=star,hosts=8", "--workload=incast:senders=4,size=300KB,jitter=3us",
            "--seeds=3", "--jobs=2"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(args, expect=0):
    p = subprocess.run([AB, *args], capture_output=True, text=True, timeout=600)
    check(p.returncode == expect, f"{args}: exit {p.returncode}, wanted {expect}\n{p.stderr}")
    check("Sanitizer" not in p.stderr and "runtime error" not in p.stderr, f"{args}: {p.stderr}")
    return p


def matplotlib_available():
    return subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"],
                          capture_output=True).returncode == 0


def fmt(v):
    return "%.4g" % v


def table_rows(md):
    """Rows of every markdown table, as lists of cells."""
    rows = []
    for line in md.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def check_agreement(out):
    md = open(os.path.join(out, "report.md")).read()
    doc = json.load(open(os.path.join(out, "summary.json")))
    rows = table_rows(md)
    check(len(doc["metrics"]) >= 10, f"only {len(doc['metrics'])} metrics")
    for m in doc["metrics"]:
        key = [m["title"]] if m["bucket"] is None else [m["bucket"], m["title"]]
        found = [r for r in rows if r[:len(key)] == key and len(r) == len(key) + 5]
        if len(found) != 1:
            failures.append(f"{key}: {len(found)} table rows")
            continue
        cells = found[0][len(key):]
        for side, cell in (("a", cells[0]), ("b", cells[1])):
            want = fmt(m[side]["mean"])
            if len(m[side]["values"]) > 1:
                want += " ± " + fmt(m[side]["sd"])
            check(cell == want, f"{key} {side}: table {cell!r}, JSON {want!r}")
        ratio = "∞" if m["ratio"] is None else fmt(m["ratio"])
        check(cells[2] == ratio, f"{key} ratio: table {cells[2]!r}, JSON {ratio!r}")
        lo, hi = m["ci95"]
        ci = "—" if lo is None else f"[{fmt(lo)}, {fmt(hi)}]"
        check(cells[3] == ci, f"{key} CI: table {cells[3]!r}, JSON {ci!r}")
        check(cells[4] == m["verdict"], f"{key} verdict: table {cells[4]!r}, JSON {m['verdict']!r}")
        check(len(m["a"]["values"]) == 3 == len(m["b"]["values"]), f"{key}: not 3 seeds")
    check(len(doc["runs"]) == 6, f"runs: {doc['runs']}")
    for r in doc["runs"]:
        for f in ("result.json", "flows.csv", "queues.csv", "cc.csv", "record.tsv"):
            check(os.path.isfile(os.path.join(out, r["dir"], f)), f"{r['dir']}/{f} missing")
    check(doc["reproduce"]["seeds"] == [1, 2, 3], f"seeds {doc['reproduce']['seeds']}")
    check(doc["reproduce"]["commit"] != "", "no commit recorded")
    check(" ".join(SCENARIO) in doc["reproduce"]["command"], "command not recorded")
    if matplotlib_available():
        check(len(doc["plots"]) == 5, f"plots {doc['plots']} ({doc['plots_note']})")
        for plot in doc["plots"]:
            path = os.path.join(out, plot)
            check(os.path.isfile(path) and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n",
                  f"{plot} is not a PNG")
            check(f"]({plot})" in md, f"{plot} not linked from report.md")
    else:
        check("No plots: matplotlib unavailable" in md, "report does not say plots are missing")
    return doc


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "ab")
    first = run([*SCENARIO, "--a=cc=fixed", "--b=cc=swift", f"--out={out}"])
    check("FCT slowdown p99" in first.stdout, f"no side-by-side table:\n{first.stdout}")
    doc = check_agreement(out)
    # Swift keeps the incast's queue and drops far below a fixed window's.
    drops = [m for m in doc["metrics"] if m["name"] == "drops"][0]
    check(drops["a"]["mean"] > drops["b"]["mean"], f"drops: {drops}")

    again = run([*SCENARIO, "--a=cc=fixed", "--b=cc=swift", f"--out={out}"])
    check(again.stderr.count("reused") == 6, f"second run reused:\n{again.stderr}")
    doc2 = json.load(open(os.path.join(out, "summary.json")))
    check(doc2["metrics"] == doc["metrics"], "reused runs changed the summary")

    same = os.path.join(tmp, "same")
    run([*SCENARIO, "--a=cc=swift", "--b=cc=swift", f"--out={same}"])
    doc = check_agreement(same)
    for m in doc["metrics"]:
        check(m["verdict"] == "negligible", f"A == B: {m['title']} {m['bucket']}: {m['verdict']}")
    # The seeds differ, so the comparison is over genuinely different runs.
    p50 = [m for m in doc["metrics"] if m["name"] == "slowdown_p50" and m["bucket"] is None][0]
    check(len(set(p50["a"]["values"])) > 1, f"seeds gave identical runs: {p50['a']['values']}")

    for args, message in [(["--a=cc=nosuch"], "side A"), (["--seeds=0"], "--seeds"),
                          (["--bogus"], "unknown flag --bogus"),
                          (["--fabric=sim:topology=star,hosts=4", "--workload=incast:senders=8"],
                           "--workload")]:
        p = run([*args, f"--out={os.path.join(tmp, 'bad')}"], expect=2)
        check(message in p.stderr, f"{args}: stderr {p.stderr!r} lacks {message!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
