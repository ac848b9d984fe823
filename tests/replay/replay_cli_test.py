#!/usr/bin/env python3
"""tern-replay end to end: the shared real inputs replay to completion, bad
input of every kind is refused with a clear message and exit status 2, and the
same seed gives the same results. Without the shared inputs (a clone that has
no ../shared/data) the checks that read them are skipped and the rest run,
a Chakra trace written here among them.

usage: replay_cli_test.py TERN_REPLAY DATA_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

REPLAY, DATA = sys.argv[1], sys.argv[2]
failures = []
HAVE_DATA = os.path.isdir(os.path.join(DATA, "chakra")) and os.path.isdir(
    os.path.join(DATA, "flowsize"))
if not HAVE_DATA:
    print(f"the shared inputs are not at {DATA}: the checks that read them are skipped")


def run(*args, expect=0):
    p = subprocess.run([REPLAY, *args], capture_output=True, text=True, timeout=300)
    if p.returncode != expect:
        failures.append(f"{' '.join(args)}: exit {p.returncode}, wanted {expect}\n{p.stderr}")
    return p


def check(cond, what):
    if not cond:
        failures.append(what)


# A Chakra execution trace written by hand (apps/chakra_et.proto): each rank's
# file is a GlobalMetadata then Nodes, each prefixed with its varint length.
def varint(n):
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def node(node_id, node_type, deps=(), micros=0, **attrs):
    NODE_TYPES = {"comp": 4, "send": 5, "recv": 6, "coll": 7}
    out = field(1, node_id) + field(2, f"node{node_id}") + field(3, NODE_TYPES[node_type])
    if deps:
        out += field(5, b"".join(varint(d) for d in deps))
    if micros:
        out += field(7, micros)
    for name, value in attrs.items():  # AttributeProto: name, int64_val
        out += field(10, field(1, name) + field(9, value))
    return out


def write_rank_file(path, nodes):
    messages = [field(1, "0.0.4")] + nodes  # GlobalMetadata: version
    with open(path, "wb") as f:
        f.write(b"".join(varint(len(m)) + m for m in messages))


def write_trace(directory, ranks):
    """Every rank: 5 us of compute, a ring all-reduce of 1 MiB, 256 KiB sent to
    the next rank and received from the previous one, then an all-to-all of
    512 KiB."""
    ALL_REDUCE, ALL_TO_ALL = 0, 6
    os.makedirs(directory)
    for r in range(ranks):
        nodes = [node(1, "comp", micros=5),
                 node(2, "coll", [1], comm_type=ALL_REDUCE, comm_size=1 << 20),
                 node(3, "send", [2], comm_type=5, comm_size=1 << 18, comm_dst=(r + 1) % ranks,
                      comm_tag=7),
                 node(4, "recv", [2], comm_type=6, comm_size=1 << 18, comm_src=(r - 1) % ranks,
                      comm_tag=7),
                 node(5, "coll", [3, 4], comm_type=ALL_TO_ALL, comm_size=1 << 19)]
        write_rank_file(os.path.join(directory, f"hand.{r}.et"), nodes)


def refused(args, message):
    p = run(*args, expect=2)
    check(message in p.stderr, f"{args}: stderr lacks {message!r}: {p.stderr!r}")
    check("Traceback" not in p.stderr and "Sanitizer" not in p.stderr, f"{args}: crashed")


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "out.json")

    # The real inputs: Chakra traces and the flow-size CDFs.
    traces = [("all_reduce_8npus_1MB", 1), ("all_to_all_8npus_1MB", 1),
              ("ring_allreduce_p2p_8npus_1MB", 0)]
    for trace, collectives in traces if HAVE_DATA else []:
        run("--fabric=sim:hosts=16", f"--workload=chakra:{DATA}/chakra/{trace}", "--quiet",
            "--json", out)
        doc = json.load(open(out))
        check(doc["flows"]["completed"] == doc["flows"]["total"] > 0, f"{trace}: {doc['flows']}")
        check(len(doc["collectives"]) == collectives, f"{trace}: collectives {doc['collectives']}")
        for c in doc["collectives"]:
            check(c["completed"] and c["time_us"] > 0 and c["busbw_gbps"] > 0, f"{trace}: {c}")
    # A trace written here runs on every checkout: 8 ranks, two collectives
    # (ring all-reduce: 2 x 7 x 8 transfers; all-to-all: 8 x 7) and a ring of
    # 8 matched sends.
    hand = os.path.join(tmp, "hand")
    write_trace(hand, 8)
    run("--fabric=sim:hosts=16", f"--workload=chakra:{hand}", "--quiet", "--json", out)
    doc = json.load(open(out))
    check(doc["flows"]["completed"] == doc["flows"]["total"] == 112 + 56 + 8,
          f"hand-made trace: {doc['flows']}")
    check([c["operation"] for c in doc["collectives"]] == ["allreduce", "alltoall"],
          f"hand-made trace: collectives {doc['collectives']}")
    for c in doc["collectives"]:
        check(c["completed"] and c["time_us"] > 0 and c["busbw_gbps"] > 0, f"hand-made: {c}")
    # The web-search CDF also ships in apps/workloads, so one load always runs.
    in_tree = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "apps", "workloads")
    cdfs = [f"{in_tree}/websearch.cdf"]
    if HAVE_DATA:
        cdfs += [f"{DATA}/flowsize/websearch.cdf", f"{DATA}/flowsize/fb_hadoop.cdf"]
    for cdf in cdfs:
        run("--fabric=sim:hosts=16", f"--workload=load:cdf={cdf},load=0.4,duration=100us",
            "--quiet", "--json", out)
        doc = json.load(open(out))
        check(doc["flows"]["completed"] == doc["flows"]["total"] > 5, f"{cdf}: {doc['flows']}")

    # Same seed, same results (only the machine-dependent "run" part differs);
    # not a terminal, so no progress line; the CSV and the timeline are written.
    docs, csvs = [], []
    for i in range(2):
        p = run("--fabric=sim:topology=leafspine,hosts=32", "--workload=incast:senders=12,size=300KB",
                "--seed", "7", "--json", f"{tmp}/d{i}.json", "--csv", f"{tmp}/f{i}.csv",
                "--timeline", f"{tmp}/tl{i}")
        check("\r" not in p.stderr, "progress printed while not on a terminal")
        d = json.load(open(f"{tmp}/d{i}.json"))
        d.pop("run")
        d.pop("command")  # names the output files, which differ
        docs.append(d)
        csvs.append(open(f"{tmp}/f{i}.csv").read())
        queues = open(f"{tmp}/tl{i}/queues.csv").read().splitlines()
        check(queues[0] == "time_us,port,queued_bytes,gbps" and len(queues) > 10, "timeline empty")
    check(docs[0] == docs[1], "seed 7: two runs differ")
    check(csvs[0] == csvs[1], "seed 7: two CSVs differ")
    check(len(csvs[0].splitlines()) == 13, "CSV: header plus 12 flows expected")
    check("slow p99" in p.stdout and "incast" in p.stdout, "no summary table on stdout")

    # Bad input: flags, specs and files.
    refused(["--bogus=1"], "unknown flag --bogus")
    refused(["--seed"], "--seed: needs a value")
    refused(["--seed", "x"], "--seed")
    refused(["--fabric=sim:hosts=abc"], "hosts=abc")
    refused(["--fabric=sim:warp=9"], "unknown key 'warp'")
    refused(["--fabric=sim:fail=s0-s99@5:down", "--workload=incast"], "fail=s0-s99@5:down")
    refused(["--fabric=sim:file=/nonexistent.topo"], "/nonexistent.topo")
    refused(["--fabric=ethernet"], "expected sim")
    refused(["--cc=nope"], "--cc")
    refused(["--workload=nope"], "nope")
    refused(["--fabric=sim:hosts=8", "--workload=incast:senders=20"], "senders")
    refused(["--fabric=sim:hosts=8192", "--workload=allreduce"],
            "ring allreduce over 8192 ranks is 134201344 transfers")
    bad_flows = os.path.join(tmp, "bad.flows")
    with open(bad_flows, "w") as f:
        f.write("2\n0 1 3 100 1000 0.0\n0 1 3 100 x 0.0\n")
    refused([f"--workload=flows:{bad_flows}"], f"{bad_flows}:3:")
    # Control bytes and invalid UTF-8 quoted from a file reach the terminal escaped.
    with open(bad_flows, "wb") as f:
        f.write(b"1\n0 \x1b[2J\xff 3 100 1000 0.0\n")
    refused([f"--workload=flows:{bad_flows}"], "host '\\x1b[2J\\xff' is not a host index")
    bad_topo = os.path.join(tmp, "bad.topo")
    with open(bad_topo, "w") as f:
        f.write("hosts 2\nswitches 1\nlink h0 s0\nlink h1 s7\n")
    refused([f"--fabric=sim:file={bad_topo}"], f"{bad_topo}:4:")
    # An input file larger than any real one (a wrong path) is refused by its
    # size, before a read that would exhaust memory; a sparse file takes no disk.
    sparse = os.path.join(tmp, "disk.img")
    with open(sparse, "wb") as f:
        f.truncate(2 << 30)
    for flag in [f"--workload=flows:{sparse}", f"--fabric=sim:file={sparse}"]:
        refused([flag], f"{sparse}: more than 1073741824 bytes")
    # A trace whose second rank's file is cut short is refused, naming the file.
    cut = os.path.join(tmp, "cut")
    write_trace(cut, 2)
    with open(os.path.join(cut, "hand.1.et"), "r+b") as f:
        f.truncate(os.path.getsize(f.name) - 5)
    refused([f"--workload=chakra:{cut}"], "hand.1.et")
    # A size no transfer can have (2^62 bytes; it used to exhaust memory) is refused.
    huge = os.path.join(tmp, "huge")
    os.makedirs(huge)
    for rank, kind, peer in [(0, "send", "comm_dst"), (1, "recv", "comm_src")]:
        write_rank_file(os.path.join(huge, f"hand.{rank}.et"),
                        [node(1, kind, comm_type=5 if kind == "send" else 6, comm_size=1 << 62,
                              comm_tag=0, **{peer: 1 - rank})])
    refused([f"--workload=chakra:{huge}"],
            "(rank0/node1): transfer of 4611686018427387904 bytes, 1 TiB or more")
    # Communicator groups: the flag reaches the loader, which names a bad file.
    groups = os.path.join(tmp, "groups.json")
    with open(groups, "w") as f:
        f.write('{"1": [0, 1, 2, 3], "2": [4, 5, 6, 99]}')
    refused([f"--workload=chakra:{hand}", f"--comm-groups={groups}"],
            f'{groups}: group "2": ranks are integers from 0 to 7')
    with open(groups, "w") as f:
        f.write('{"1": [0, 1, 2, 3], "2": [4, 5, 6, 7]}')
    run("--fabric=sim:hosts=16", f"--workload=chakra:{hand}", f"--comm-groups={groups}",
        "--quiet")  # no pg_name: all ranks

    # An output that cannot be written is refused before the run, not after:
    # no summary was printed, and an existing file given as the timeline's
    # directory is named.
    open(out, "a").close()
    for flag, path, message in [("--json", f"{tmp}/no-such-dir/out.json", "no-such-dir/out.json"),
                                ("--csv", tmp, "Is a directory"),
                                ("--timeline", f"{out}/tl", f"cannot create {out}/tl")]:
        p = run("--fabric=sim:hosts=128", "--workload=permutation:size=2MB", flag, path, expect=1)
        check(message in p.stderr, f"{flag} {path}: stderr lacks {message!r}: {p.stderr!r}")
        check(p.stdout == "", f"{flag} {path}: ran before refusing: {p.stdout[:200]!r}")

    # A topology file runs, and a failed flow is an exit status, not a crash.
    topo = os.path.join(tmp, "two.topo")
    with open(topo, "w") as f:
        f.write("hosts 4\nswitches 2\nlink h0 s0\nlink h1 s0\nlink h2 s1\nlink h3 s1\nlink s0 s1\n")
    run(f"--fabric=sim:file={topo}", "--workload=permutation:size=100KB", "--quiet")
    run(f"--fabric=sim:file={topo},fail=s0-s1@0:down", "--workload=incast:senders=3,size=100KB",
        "--time-limit", "20", "--quiet", "--json", out, expect=3)
    doc = json.load(open(out))
    check(doc["flows"]["completed"] < doc["flows"]["total"], f"failed link: {doc['flows']}")
    # Exit 3 says why on stderr, --quiet or not.
    p = run("--fabric=sim:topology=star,hosts=8", "--workload=incast", "--time-limit", "0.001",
            "--quiet", expect=3)
    check("7 of 7 flows did not complete: 0 failed, 7 unfinished at the time limit" in p.stderr,
          f"time limit: stderr {p.stderr!r}")
    check(p.stdout == "", f"--quiet printed {p.stdout[:200]!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("tern-replay CLI: all checks passed")
