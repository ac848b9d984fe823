#!/usr/bin/python3
"""Checks tools/wireshark/tern.lua against the C++ decoder.

Runs capture_sample (the real transport over the simulated wire, plus
hand-made bad frames) into a temporary directory, decodes the capture with
tshark and the Lua dissector (-T pdml), and compares every frame's fields
with the expected file, in which capture_sample recorded what
DecodeFrame/DecodeTern (transport/wire.h) read in the same bytes. Also checks:
the receiver verdict and the expert info of refused frames, checksum status,
the docs/protocol.md section 2.9 test vectors, pcapng timestamps and comments,
that the capture covers every packet kind, and the two preferences.

Usage: dissector_test.py --capture-sample PATH --dissector tern.lua
           [--tshark PATH] [--seed N] [--keep DIR]
The seed defaults to $TERN_SEED, else 1. Exit 0 pass, 1 fail, 2 usage,
77 skip (no tshark).
"""

import argparse
import decimal
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_SKIP = 0, 1, 2, 77
MAX_REPORTED = 25

# Keys of the expected file that are not dissector fields ("tern." + key).
META_KEYS = {
    "frame", "time_ns", "comment", "ip", "length", "frame_error", "type_name",
    "data.opcode_name", "nack.reason_name", "payload_bytes", "checksum_ok",
    "drop_reason_unverified",
}
# Keys whose value is a list: one dissector field occurrence per element.
LIST_KEYS = {"ack.sack_offset", "ack.sack_psn"}

FLAG_BITS = {
    "trimmed": 0x0001, "ack_request": 0x0002, "retransmit": 0x0004,
    "first": 0x0008, "last": 0x0010, "ecn_echo": 0x0020,
}
# Drop reasons that DecodeTern can return, each with its expert info.
DROP_REASONS = ["truncated", "bad_version", "unknown_type", "unknown_opcode",
                "bad_flags", "bad_length", "bad_checksum"]
ERROR_EXPERTS = {"tern.expert." + r for r in DROP_REASONS}

# docs/protocol.md section 2.9: the checksums of the published test vectors.
SPEC_VECTORS = {
    "crafted: spec vector DATA WRITE": 0x9514BB95,
    "crafted: spec vector trimmed WRITE": 0xD1427751,
    "crafted: spec vector ACK": 0x586707CE,
    "crafted: spec vector NACK": 0x03BBFEEA,
}

OPCODES = ["SEND", "SEND_WITH_IMM", "WRITE", "WRITE_WITH_IMM", "READ_REQUEST", "READ_RESPONSE"]


class Packet:
    """The fields tshark showed for one frame."""

    def __init__(self, element):
        self.fields = {}  # name -> list of (show, showname, size)
        for field in element.iter("field"):
            name = field.get("name")
            if not name:
                continue
            self.fields.setdefault(name, []).append(
                (field.get("show", ""), field.get("showname", ""), int(field.get("size", "0"))))
        self.protocols = {p.get("name") for p in element.iter("proto")}
        self.experts = {n for n in self.fields if n.startswith("tern.expert.")}

    def shows(self, name):
        return [show for show, _, _ in self.fields.get(name, [])]

    def one(self, name):
        values = self.shows(name)
        return values[0] if len(values) == 1 else None

    def showname(self, name):
        entries = self.fields.get(name, [])
        return entries[0][1] if len(entries) == 1 else None

    def number(self):
        return int(self.one("frame.number"))


def read_pdml(text):
    """Parses tshark -T pdml output into Packets, in frame order."""
    root = ET.fromstring(text)
    return [Packet(p) for p in root.iter("packet")]


def as_int(text):
    return int(text, 0)


def expected_int(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return int(value, 0)


class Checker:
    def __init__(self):
        self.failures = []

    def fail(self, frame, what):
        self.failures.append(f"frame {frame}: {what}")

    def ok(self):
        return not self.failures


def describe(exp):
    parts = [exp.get("type_name", "?")]
    for key in ("data.opcode_name", "nack.reason_name", "comment"):
        if key in exp:
            parts.append(exp[key])
    return " ".join(parts)


def compare_frame(exp, pkt, check):
    n = exp["frame"]
    label = f"{n} ({describe(exp)})"
    if "tern" not in pkt.protocols:
        check.fail(label, "tshark did not hand the frame to the Tern dissector")
        return
    lua_errors = [name for name in pkt.fields if name.startswith("_ws.lua.error")]
    if lua_errors or any("Lua Error" in sn for entries in pkt.fields.values()
                         for _, sn, _ in entries):
        check.fail(label, "Lua error while dissecting")

    # Timestamp (pcapng nanoseconds) and comment.
    epoch = pkt.one("frame.time_epoch")
    if epoch is None or int(decimal.Decimal(epoch) * 10**9) != exp["time_ns"]:
        check.fail(label, f"time: expected {exp['time_ns']} ns, tshark {epoch}")
    if pkt.one("frame.comment") != exp.get("comment"):
        check.fail(label, f"comment: expected {exp.get('comment')!r}, "
                   f"tshark {pkt.one('frame.comment')!r}")
    want_v6 = exp.get("ip") == 6
    if ("ipv6" in pkt.protocols) != want_v6:
        check.fail(label, f"IP version: expected {exp.get('ip')}")

    # Every field the C++ decoder read.
    for key, value in exp.items():
        if key in META_KEYS:
            continue
        name = "tern." + key
        shows = pkt.shows(name)
        if key in LIST_KEYS:
            try:
                got = [as_int(s) for s in shows]
            except ValueError:
                got = shows
            if got != value:
                check.fail(label, f"{name}: expected {value}, tshark {got}")
            continue
        if len(shows) != 1:
            check.fail(label, f"{name}: expected {value!r}, tshark shows it {len(shows)} times "
                       f"{shows[:4]}")
            continue
        if isinstance(value, str) and not value.startswith("0x"):
            if shows[0] != value:
                check.fail(label, f"{name}: expected {value!r}, tshark {shows[0]!r}")
            continue
        try:
            got = as_int(shows[0])
        except ValueError:
            check.fail(label, f"{name}: tshark value {shows[0]!r} is not a number")
            continue
        if got != expected_int(value):
            check.fail(label, f"{name}: expected {value}, tshark {shows[0]}")

    # Names by value.
    for key, field in (("type_name", "tern.type"), ("data.opcode_name", "tern.data.opcode"),
                       ("nack.reason_name", "tern.nack.reason")):
        if key in exp and exp[key] != "unknown":
            showname = pkt.showname(field) or ""
            if f": {exp[key]} (" not in showname:
                check.fail(label, f"{field} name: expected {exp[key]}, tshark {showname!r}")

    # Flag bits.
    if "flags" in exp:
        flags = expected_int(exp["flags"])
        for name, bit in FLAG_BITS.items():
            got = pkt.one("tern.flags." + name)
            want = "1" if flags & bit else "0"
            if got != want:
                check.fail(label, f"tern.flags.{name}: expected {want}, tshark {got}")

    # Checksum status and the payload present.
    if "checksum_ok" in exp:
        want = "1" if exp["checksum_ok"] else "0"
        if pkt.one("tern.checksum.status") != want:
            check.fail(label, f"tern.checksum.status: expected {want}, "
                       f"tshark {pkt.one('tern.checksum.status')}")
    if "payload_bytes" in exp:
        got = sum(size for _, _, size in pkt.fields.get("tern.payload", []))
        if got != exp["payload_bytes"]:
            check.fail(label, f"payload: expected {exp['payload_bytes']} bytes, tshark {got}")

    # Expert info: the drop reason's own, and none of the others when accepted.
    reason = exp.get("drop_reason")
    errors = pkt.experts & ERROR_EXPERTS
    if reason == "none":
        if errors:
            check.fail(label, f"accepted packet carries expert info {sorted(errors)}")
    elif reason is not None and "tern.expert." + reason not in pkt.experts:
        check.fail(label, f"drop reason {reason}: expert info tern.expert.{reason} missing "
                   f"(has {sorted(pkt.experts)})")
    if "flags" in exp and exp.get("version") == 1 and exp.get("type") in (1, 2, 3):
        flags = expected_int(exp["flags"])
        if bool(flags & FLAG_BITS["retransmit"]) != ("tern.expert.retransmit" in pkt.experts):
            check.fail(label, "tern.expert.retransmit does not follow the RETRANSMIT flag")
    if "data.opcode" in exp and expected_int(exp["flags"]) & FLAG_BITS["trimmed"]:
        if "tern.expert.trimmed" not in pkt.experts:
            check.fail(label, "trimmed DATA without tern.expert.trimmed")
    if exp.get("nack.reason_name", "unknown") != "unknown":
        if "tern.expert.nack" not in pkt.experts:
            check.fail(label, "NACK without tern.expert.nack")

    # The published test vectors.
    comment = exp.get("comment")
    if comment in SPEC_VECTORS:
        want = SPEC_VECTORS[comment]
        if expected_int(exp.get("checksum", "0")) != want:
            check.fail(label, f"C++ checksum {exp.get('checksum')} differs from the spec's "
                       f"0x{want:08x}")
        got = pkt.one("tern.checksum")
        if got is None or as_int(got) != want:
            check.fail(label, f"tern.checksum: spec says 0x{want:08x}, tshark {got}")
        if comment == "crafted: spec vector ACK" and exp.get("ack.sack_psn") != [102, 103, 164, 227]:
            check.fail(label, f"spec ACK SACKs 102,103,164,227; got {exp.get('ack.sack_psn')}")


def check_coverage(expected, check):
    """The capture must show every packet kind the dissector decodes."""
    ok_frames = [e for e in expected if e.get("drop_reason") == "none"]
    needs = {
        "IPv4 frames": any(e.get("ip") == 4 for e in ok_frames),
        "IPv6 frames": any(e.get("ip") == 6 for e in ok_frames),
        "two or more entropies on DATA": len({e["entropy"] for e in ok_frames
                                               if e.get("type") == 1}) >= 2,
        "an ACK with SACK bits": any(e.get("ack.sack_count", 0) > 0 for e in ok_frames),
        "a trimmed DATA packet": any(e.get("type") == 1 and expected_int(e["flags"]) & 1
                                     for e in ok_frames),
        "a retransmission": any(expected_int(e.get("flags", "0")) & 4 for e in ok_frames),
        "NACK TRIMMED": any(e.get("nack.reason_name") == "TRIMMED" for e in ok_frames),
        "NACK NO_RECEIVE_BUFFER": any(e.get("nack.reason_name") == "NO_RECEIVE_BUFFER"
                                      for e in ok_frames),
        "a multi-packet WRITE": any(e.get("data.opcode_name") == "WRITE" and
                                    e.get("data.offset", 0) > 0 for e in ok_frames),
    }
    for op in OPCODES:
        needs["DATA " + op] = any(e.get("data.opcode_name") == op for e in ok_frames)
    for reason in DROP_REASONS:
        needs["a frame refused as " + reason] = any(e.get("drop_reason") == reason
                                                   for e in expected)
    for comment in SPEC_VECTORS:
        needs[comment] = any(e.get("comment") == comment for e in expected)
    for what, present in needs.items():
        if not present:
            check.fail("-", f"capture lacks {what}")


def run_tshark(tshark, lua, capture, env, extra):
    cmd = [tshark, "-n", "-X", "lua_script:" + lua, "-r", capture] + extra
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stderr}")
    noise = [line for line in result.stderr.splitlines()
             if line.strip() and "Running as user" not in line]
    if noise:
        raise RuntimeError(f"tshark reported:\n" + "\n".join(noise[:20]))
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture-sample", required=True)
    parser.add_argument("--dissector", required=True)
    parser.add_argument("--tshark", default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", default=None, help="write the capture and outputs here")
    try:
        args = parser.parse_args()
    except SystemExit as e:
        return EXIT_USAGE if e.code else EXIT_PASS
    seed = args.seed if args.seed is not None else int(os.environ.get("TERN_SEED", "1"))
    print(f"dissector_test: seed {seed}")

    tshark = args.tshark or shutil.which("tshark") or "/usr/bin/tshark"
    if not os.access(tshark, os.X_OK):
        print(f"dissector_test: SKIP: tshark is not installed ({tshark})")
        return EXIT_SKIP

    with tempfile.TemporaryDirectory(prefix="tern-dissector-") as tmp:
        out_dir = args.keep or tmp
        os.makedirs(out_dir, exist_ok=True)
        capture = os.path.join(out_dir, "sample.pcapng")
        expected_path = os.path.join(out_dir, "expected.jsonl")
        result = subprocess.run([args.capture_sample, f"--seed={seed}", capture, expected_path],
                                capture_output=True, text=True, timeout=240)
        sys.stdout.write(result.stdout)
        if result.returncode != 0:
            print(f"dissector_test: FAIL: capture_sample exited {result.returncode}:\n"
                  f"{result.stderr}")
            return EXIT_FAIL
        with open(expected_path) as f:
            expected = [json.loads(line) for line in f if line.strip()]

        # A private HOME and config dir: no personal plugin (a second copy of
        # tern.lua) or preference of the user's can interfere.
        home = os.path.join(tmp, "home")
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
        try:
            pdml = run_tshark(tshark, args.dissector, capture, env,
                              ["-T", "pdml", "-o", "tern.verify_checksum:TRUE"])
            unverified = run_tshark(tshark, args.dissector, capture, env,
                                    ["-o", "tern.verify_checksum:FALSE", "-T", "fields",
                                     "-e", "frame.number", "-e", "tern.checksum.status",
                                     "-e", "tern.drop_reason"])
            other_port = run_tshark(tshark, args.dissector, capture, env,
                                    ["-o", "tern.udp_port:4000", "-Y", "tern",
                                     "-T", "fields", "-e", "frame.number"])
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"dissector_test: FAIL: seed {seed}: {e}")
            return EXIT_FAIL
        if args.keep:
            with open(os.path.join(out_dir, "tshark.pdml"), "w") as f:
                f.write(pdml)

        check = Checker()
        packets = read_pdml(pdml)
        if len(packets) != len(expected):
            check.fail("-", f"tshark read {len(packets)} frames, expected {len(expected)}")
        by_number = {p.number(): p for p in packets}
        for exp in expected:
            pkt = by_number.get(exp["frame"])
            if pkt is None:
                check.fail(exp["frame"], "missing from tshark's output")
                continue
            compare_frame(exp, pkt, check)
        check_coverage(expected, check)

        # Preference: checksum verification off gives the verdict of a
        # receiver with checksum offload.
        rows = [line.split("\t") for line in unverified.splitlines() if line]
        by_frame = {int(r[0]): r for r in rows}
        for exp in expected:
            row = by_frame.get(exp["frame"])
            want = exp.get("drop_reason_unverified")
            if row is None or want is None:
                continue
            if row[2] != want or (exp.get("length", 0) >= 20 and row[1] != "2"):
                check.fail(exp["frame"], f"verify_checksum off: expected status 2 and verdict "
                           f"{want}, tshark {row[1:]}")
        # Preference: on another port, nothing is Tern.
        if other_port.strip():
            check.fail("-", "with tern.udp_port 4000, frames still decode as Tern: "
                       f"{other_port.split()[:5]}")

        frames = len(expected)
        if not check.ok():
            print(f"dissector_test: FAIL: seed {seed}: {len(check.failures)} mismatches "
                  f"over {frames} frames; first {min(MAX_REPORTED, len(check.failures))}:")
            for line in check.failures[:MAX_REPORTED]:
                print("  " + line)
            print(f"  rerun: {sys.argv[0]} --capture-sample {args.capture_sample} "
                  f"--dissector {args.dissector} --seed {seed} --keep /tmp/tern-dissector")
            return EXIT_FAIL
        refused = sum(1 for e in expected if e.get("drop_reason") != "none")
        print(f"dissector_test: PASS: seed {seed}: {frames} frames ({refused} refused) "
              f"match the C++ decoder")
        return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
