#!/usr/bin/python3
"""Checks tools/wireshark/tern.lua against the C++ decoder.

Runs capture_sample (the real transport over the simulated wire, plus
hand-made bad frames) into a temporary directory, decodes the capture with
tshark and the Lua dissector (-T pdml), and compares every frame's fields
with the expected file, in which capture_sample recorded what
DecodeFrame/DecodeTern (transport/wire.h) read in the same bytes. Also checks:
the receiver verdict and the expert info of refused frames, checksum status,
the docs/protocol.md section 2.9 test vectors, pcapng timestamps and comments,
that the capture covers every packet kind (in-band telemetry on DATA and its
echo on an ACK with CNP included), the two preferences, and that
capture_sample --read (the pcapng reader) describes the capture exactly as
capture_sample wrote it.

With --tern-perf, the capture is of a real DPDK run instead: tern-perf over
its net_ring loopback pair with 5% loss and reordering over 8 entropies,
two workers per host, --verify and --pcap (rte_pcapng, every frame once as sent and once as
received). tern-perf must pass with 0 data errors; capture_sample --read
writes the expected file; every Tern frame must match it, must be accepted
(save a zero-copy retransmission that arrives after its PSN was accepted and
its buffer rewritten: bad_checksum, as docs/dpdk.md says), and the capture must hold DATA, ACK and retransmitted frames in both
directions, every received frame having been sent on the other port.
tern-perf runs with --tclass (DSCP 26): tshark must read that DSCP with
ECT(0) or CE in every Tern frame, and over IPv6 the entropy as the flow label.

With --capture, an existing pcapng file is checked (its expected file from
--expected, else from capture_sample --read); it must hold a Tern frame.

Usage: dissector_test.py --capture-sample PATH --dissector tern.lua
           [--tshark PATH] [--seed N] [--keep DIR]
       dissector_test.py --capture-sample PATH --dissector tern.lua
           --tern-perf PATH [--eal-args tools/dpdk-eal-args.sh] [--keep DIR]
       dissector_test.py [--capture-sample PATH] --dissector tern.lua
           --capture FILE.pcapng [--expected FILE.jsonl] [--keep DIR]
The seed defaults to $TERN_SEED, else 1. Exit 0 pass, 1 fail, 2 usage,
77 skip (no tshark).
"""

import argparse
import collections
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
    "drop_reason_unverified", "interface", "direction", "original_length", "udp_port",
    "coalesced",
}
# Keys of the expected file that describe the frame, not one Tern packet in it:
# a coalesced packet (the list under "coalesced") shares them.
FRAME_KEYS = {"frame", "time_ns", "comment", "interface", "direction", "original_length", "ip",
              "entropy", "udp_port"}
# Keys only capture_sample --read writes (pcapng block fields).
READ_ONLY_KEYS = {"interface", "direction", "original_length"}
# epb_flags direction bits as tshark shows frame.packet_flags_direction.
DIRECTIONS = {"in": 1, "out": 2}

# The DPDK run: tern-perf over its net_ring loopback pair on two lcores.
# Two workers per host, each with two of the four QPs, capture into one file.
# Zero-copy (the default): frames the reorder fault holds are private copies,
# so a late original keeps what was sent even after its buffer is reused.
TERN_PERF_QPS = 4
TERN_PERF_DSCP = 26  # given as --tclass DSCP x 4
TERN_PERF_ARGS = ["--fabric=dpdk:loss=0.05,reorder=4,paths=8,seed=3", "--test=write_bw",
                  "-s", "16384", "-n", "200", "--verify", "--quiet", "--timeout", "60",
                  "--workers", "2", "-q", str(TERN_PERF_QPS), "--tclass", str(TERN_PERF_DSCP * 4)]
TERN_PERF_TIMEOUT_S = 120
EAL_MEMORY_MB = "512"
# Keys whose value is a list: one dissector field occurrence per element.
LIST_KEYS = {"ack.sack_offset", "ack.sack_psn", "telemetry.timestamp_ns", "telemetry.tx_bytes",
             "telemetry.queue_bytes", "telemetry.rate_mbps"}

FLAG_BITS = {
    "trimmed": 0x0001, "ack_request": 0x0002, "retransmit": 0x0004,
    "first": 0x0008, "last": 0x0010, "ecn_echo": 0x0020, "cnp": 0x0040, "telemetry": 0x0080,
    "coalesced": 0x0100,
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
    "crafted: spec vector DATA WRITE with telemetry": 0x1BF6C484,
    "crafted: spec vector ACK with CNP and telemetry": 0xFB3983AE,
}

# capture_sample's hand-made telemetry and CNP frames, with the verdict the
# C++ decoder must reach on each (the dissector's is compared frame by frame).
TELEMETRY_CRAFTED = {
    "crafted: spec vector DATA WRITE with telemetry": "none",
    "crafted: spec vector ACK with CNP and telemetry": "none",
    "crafted: SEND with an empty telemetry stack": "none",
    "crafted: telemetry stack full after 6 switches": "none",
    "crafted: trimmed DATA keeps its telemetry stack": "none",
    "crafted: ACK with CNP, no telemetry": "none",
    "crafted: telemetry hops above 5": "bad_length",
    "crafted: truncated telemetry stack": "truncated",
    "crafted: truncated telemetry echo on an ACK": "truncated",
    "crafted: ACK telemetry echo changed after sealing": "bad_checksum",
    "crafted: CNP on DATA": "bad_flags",
    "crafted: CNP on a NACK": "bad_flags",
    "crafted: TELEMETRY on a NACK": "bad_flags",
}
# capture_sample's datagrams of several Tern packets: each packet's verdict.
COALESCED_CRAFTED = {
    "crafted: two ACKs and a NACK coalesced": ["none", "none", "none"],
    "crafted: coalesced ACK and a truncated NACK": ["none", "truncated"],
    "crafted: COALESCED on DATA": ["bad_flags"],
}
# Telemetry fields of an accepted frame with a stack: one subtree "Telemetry".
TELEMETRY_RECORD_KEYS = ["telemetry.timestamp_ns", "telemetry.tx_bytes",
                         "telemetry.queue_bytes", "telemetry.rate_mbps"]

OPCODES = ["SEND", "SEND_WITH_IMM", "WRITE", "WRITE_WITH_IMM", "READ_REQUEST", "READ_RESPONSE"]


class Packet:
    """The fields tshark showed for one Tern packet of a frame: the frame's own
    (frame, tshark's, UDP) and those of that packet's Tern tree."""

    KEPT = ("frame.", "tern", "_ws.", "udp.dstport", "udp.srcport", "ip.dsfield.", "ipv6.tclass.",
            "ipv6.flow")

    def __init__(self, fields, protocols):
        self.fields = fields  # name -> list of (show, showname, size)
        self.protocols = protocols
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


def collect_fields(element, into):
    for field in element.iter("field"):
        name = field.get("name")
        if not name or not name.startswith(Packet.KEPT):
            continue
        # The payload is checked by its size only; its hex is not kept.
        show = "" if name == "tern.payload" else field.get("show", "")
        into.setdefault(name, []).append(
            (show, field.get("showname", ""), int(field.get("size", "0"))))


def packets_of_frame(element):
    """One Packet per Tern tree of a PDML <packet> (one per Tern packet of a
    coalesced datagram), or one Packet of the frame's fields alone."""
    frame_fields, trees = {}, []
    for proto in element.findall("proto"):
        if proto.get("name") == "tern":
            trees.append({})
            collect_fields(proto, trees[-1])
        else:
            collect_fields(proto, frame_fields)
    protocols = {p.get("name") for p in element.iter("proto")}
    return [Packet({**frame_fields, **tree}, protocols) for tree in trees or [{}]]


def read_pdml(path):
    """Parses a tshark -T pdml output file: per frame, in order, the list of
    packets_of_frame.

    Streams: a DPDK capture's PDML runs to a hundred megabytes."""
    frames = []
    for _, element in ET.iterparse(path, events=("end",)):
        if element.tag == "packet":
            frames.append(packets_of_frame(element))
            element.clear()
    return frames


def packets_of(exp):
    """The Tern packets an expected frame describes: itself, then each one
    coalesced after the first, with the frame's own keys."""
    first = {k: v for k, v in exp.items() if k != "coalesced"}
    frame = {k: v for k, v in exp.items() if k in FRAME_KEYS}
    return [first] + [{**frame, **c} for c in exp.get("coalesced", [])]


def flatten(expected):
    return [p for exp in expected for p in packets_of(exp)]


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


def compare_capture_fields(exp, pkt, check, label):
    """Timestamp, comment, and the pcapng interface and direction when read."""
    epoch = pkt.one("frame.time_epoch")
    if epoch is None or int(decimal.Decimal(epoch) * 10**9) != exp["time_ns"]:
        check.fail(label, f"time: expected {exp['time_ns']} ns, tshark {epoch}")
    if pkt.one("frame.comment") != exp.get("comment"):
        check.fail(label, f"comment: expected {exp.get('comment')!r}, "
                   f"tshark {pkt.one('frame.comment')!r}")
    if "interface" in exp and pkt.one("frame.interface_id") != str(exp["interface"]):
        check.fail(label, f"interface: expected {exp['interface']}, "
                   f"tshark {pkt.one('frame.interface_id')}")
    if "direction" in exp:
        got = pkt.one("frame.packet_flags_direction")
        if got is None or as_int(got) != DIRECTIONS[exp["direction"]]:
            check.fail(label, f"direction: expected {exp['direction']}, tshark {got}")


def compare_frame(exp, pkt, check):
    n = exp["frame"]
    if "frame_error" in exp:
        # Not Tern for the C++ decoder (ARP, other UDP, bad outer headers).
        label = f"{n} (outer headers refused: {exp['frame_error']})"
        compare_capture_fields(exp, pkt, check, label)
        if exp["frame_error"] == "not_tern" and "tern" in pkt.protocols:
            check.fail(label, "the C++ decoder finds no Tern packet, tshark decodes one")
        return
    label = f"{n} ({describe(exp)})"
    if "tern" not in pkt.protocols:
        check.fail(label, "tshark did not hand the frame to the Tern dissector")
        return
    lua_errors = [name for name in pkt.fields if name.startswith("_ws.lua.error")]
    if lua_errors or any("Lua Error" in sn for entries in pkt.fields.values()
                         for _, sn, _ in entries):
        check.fail(label, "Lua error while dissecting")

    # Timestamp (pcapng nanoseconds), comment, interface and direction.
    compare_capture_fields(exp, pkt, check, label)
    if pkt.one("udp.dstport") != str(exp.get("udp_port")):
        check.fail(label, f"UDP port: expected {exp.get('udp_port')}, "
                   f"tshark {pkt.one('udp.dstport')}")
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
    if exp.get("version") == 1 and exp.get("type") == 2:
        flags = expected_int(exp["flags"])
        if bool(flags & FLAG_BITS["cnp"]) != ("tern.expert.cnp" in pkt.experts):
            check.fail(label, "tern.expert.cnp does not follow the CNP flag on an ACK")
    if "data.opcode" in exp and expected_int(exp["flags"]) & FLAG_BITS["trimmed"]:
        if "tern.expert.trimmed" not in pkt.experts:
            check.fail(label, "trimmed DATA without tern.expert.trimmed")
    if exp.get("nack.reason_name", "unknown") != "unknown":
        if "tern.expert.nack" not in pkt.experts:
            check.fail(label, "NACK without tern.expert.nack")

    # Telemetry: an accepted packet without a stack shows none; one with a
    # stack shows one record per filled hop (the lists above), no more.
    if reason == "none":
        shown = [name for name in pkt.fields if name.startswith("tern.telemetry.")]
        if "telemetry.hops" not in exp and shown:
            check.fail(label, f"no telemetry stack, tshark shows {sorted(shown)}")
        if "telemetry.hops" in exp:
            records = min(exp["telemetry.hops"], 5)
            for key in TELEMETRY_RECORD_KEYS:
                if len(pkt.shows("tern." + key)) != records:
                    check.fail(label, f"tern.{key}: expected {records} records, tshark shows "
                               f"{len(pkt.shows('tern.' + key))}")

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


def check_coverage(frames, check):
    """The capture must show every packet kind the dissector decodes."""
    expected = flatten(frames)
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
    needs.update({
        "a DATA packet with telemetry records": any(
            e.get("type") == 1 and e.get("telemetry.hops", 0) > 0 for e in ok_frames),
        "a DATA packet with an empty telemetry stack": any(
            e.get("type") == 1 and e.get("telemetry.hops") == 0 for e in ok_frames),
        "a full telemetry stack": any(e.get("telemetry.hops") == 5 for e in ok_frames),
        "a trimmed DATA packet with a telemetry stack": any(
            e.get("type") == 1 and "telemetry.hops" in e and expected_int(e["flags"]) & 1
            for e in ok_frames),
        "an ACK with CNP": any(e.get("type") == 2 and
                               expected_int(e["flags"]) & FLAG_BITS["cnp"] for e in ok_frames),
        "an ACK echoing telemetry records": any(
            e.get("type") == 2 and e.get("telemetry.hops", 0) > 0 for e in ok_frames),
    })
    by_comment = {e.get("comment"): e for e in expected if "comment" in e}
    for comment, verdict in TELEMETRY_CRAFTED.items():
        e = by_comment.get(comment)
        if e is None:
            check.fail("-", f"capture lacks {comment!r}")
        elif e.get("drop_reason") != verdict:
            check.fail(e["frame"], f"{comment}: the C++ decoder says {e.get('drop_reason')}, "
                       f"expected {verdict}")
    by_frame_comment = {e.get("comment"): e for e in frames if "comment" in e}
    for comment, verdicts in COALESCED_CRAFTED.items():
        e = by_frame_comment.get(comment)
        got = [p.get("drop_reason") for p in packets_of(e)] if e else None
        if got != verdicts:
            check.fail(e["frame"] if e else "-", f"{comment}: the C++ decoder says {got}, "
                       f"expected {verdicts}")
    for what, present in needs.items():
        if not present:
            check.fail("-", f"capture lacks {what}")


def check_dpdk_ip_fields(packets, check, ip_version):
    """tshark's reading of the IP header of every Tern frame of tern-perf's run:
    the DSCP it was given (with ECT(0) or CE), and over IPv6 the entropy (UDP
    source port) as the flow label."""
    prefix = "ipv6.tclass." if ip_version == 6 else "ip.dsfield."
    for pkts in packets:
        pkt = pkts[0]
        if "tern" not in pkt.protocols:
            continue
        label = pkt.one("frame.number")
        dscp, ecn = pkt.one(prefix + "dscp"), pkt.one(prefix + "ecn")
        if dscp is None or int(dscp, 0) != TERN_PERF_DSCP:
            check.fail(label, f"DSCP {dscp}, tern-perf was given {TERN_PERF_DSCP}")
        if ecn is None or int(ecn, 0) not in (2, 3):
            check.fail(label, f"ECN {ecn}: neither ECT(0) nor CE")
        if ip_version == 6:
            flow, entropy = pkt.one("ipv6.flow"), pkt.one("udp.srcport")
            if flow is None or entropy is None or int(flow, 0) != int(entropy, 0):
                check.fail(label, f"flow label {flow}, entropy {entropy}")


def check_dpdk_capture(frames, check, ip_version):
    """What a capture of tern-perf's DPDK run must show."""
    expected = flatten(frames)
    tern = [e for e in expected if "frame_error" not in e]
    for e in tern:
        if e.get("ip") != ip_version:
            check.fail(e["frame"], f"IPv{e.get('ip')} where tern-perf was given IPv{ip_version}")
    for e in expected:
        if e.get("frame_error", "not_tern") != "not_tern":
            check.fail(e["frame"], f"the C++ decoder refuses the outer headers: {e['frame_error']}")
    # Every packet, as sent and as received, is one the receiver accepts. (A
    # zero-copy retransmission could once leave with a buffer rewritten after
    # its message completed; retransmissions are copied now, docs/dpdk.md.)
    for e in tern:
        reason = e.get("drop_reason")
        if reason != "none":
            check.fail(e["frame"], f"{describe(e)} refused by the receiver: {reason}")
        if "direction" not in e:
            check.fail(e["frame"], "no epb_flags direction in the capture")
    needs = {
        "DATA frames": any(e.get("type") == 1 for e in tern),
        "ACK frames": any(e.get("type") == 2 for e in tern),
        "a retransmission (flag RETRANSMIT)": any(
            e.get("type") == 1 and expected_int(e["flags"]) & FLAG_BITS["retransmit"]
            for e in tern),
        "frames as sent (direction out)": any(e.get("direction") == "out" for e in tern),
        "frames as received (direction in)": any(e.get("direction") == "in" for e in tern),
        "two interfaces": len({e.get("interface") for e in tern}) >= 2,
        # Several QPs between the two hosts: ACKs due in one transmit poll
        # share a datagram (ContextConfig::coalesce_control).
        "a datagram of coalesced ACKs": any(e.get("coalesced") for e in frames),
        # tern-perf numbers each worker's QPs from its own base, so a QP
        # number alone names a QP; both workers' UDP ports carry DATA.
        f"DATA frames of all {TERN_PERF_QPS} QPs (both workers)": len(
            {e.get("dst_qpn") for e in tern if e.get("type") == 1}) >= TERN_PERF_QPS and len(
            {e.get("udp_port") for e in tern if e.get("type") == 1}) >= 2,
    }
    for what, present in needs.items():
        if not present:
            check.fail("-", f"capture lacks {what}")
    # Every frame received on a port was sent on another one (the capture
    # holds both copies; the faults drop and delay, they do not duplicate).
    def key(e):
        return tuple(e.get(k) for k in ("type", "psn", "checksum", "entropy", "length"))
    sent = collections.Counter((key(e), e.get("interface")) for e in tern
                               if e.get("direction") == "out")
    received = collections.Counter((key(e), e.get("interface")) for e in tern
                                   if e.get("direction") == "in")
    interfaces = {e.get("interface") for e in tern}
    unmatched = 0
    for (k, interface), count in received.items():
        sent_elsewhere = sum(sent[(k, other)] for other in interfaces if other != interface)
        if count > sent_elsewhere:
            unmatched += count - sent_elsewhere
    if unmatched:
        check.fail("-", f"{unmatched} frames received that no other port sent")
    return {
        "data": sum(1 for e in tern if e.get("type") == 1),
        "ack": sum(1 for e in tern if e.get("type") == 2),
        "nack": sum(1 for e in tern if e.get("type") == 3),
        "retransmit": sum(1 for e in tern if e.get("type") == 1 and
                          expected_int(e["flags"]) & FLAG_BITS["retransmit"]),
        "in": sum(1 for e in tern if e.get("direction") == "in"),
        "out": sum(1 for e in tern if e.get("direction") == "out"),
        "other": len(expected) - len(tern),
        "coalesced": sum(len(e.get("coalesced", [])) for e in frames),
    }


def run_tshark(tshark, lua, capture, env, extra, out_path=None):
    """Runs tshark; returns its output, or writes it to out_path (large PDML)."""
    cmd = [tshark, "-n", "-X", "lua_script:" + lua, "-r", capture] + extra
    if out_path is None:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    else:
        with open(out_path, "w") as out:
            result = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True, env=env,
                                    timeout=240)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stderr}")
    noise = [line for line in result.stderr.splitlines()
             if line.strip() and "Running as user" not in line]
    if noise:
        raise RuntimeError(f"tshark reported:\n" + "\n".join(noise[:20]))
    return result.stdout


def read_expected(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_capture_sample_read(capture_sample, capture, expected_path):
    """capture_sample --read; returns an error message or None."""
    result = subprocess.run([capture_sample, "--read", capture, expected_path],
                            capture_output=True, text=True, timeout=240)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        return f"capture_sample --read exited {result.returncode}:\n{result.stderr}"
    return None


def make_sim_capture(args, seed, out_dir, check):
    """capture_sample's simulated capture, and a check of the pcapng reader on
    it. Returns (capture, expected path) or an error message."""
    capture = os.path.join(out_dir, "sample.pcapng")
    expected_path = os.path.join(out_dir, "expected.jsonl")
    result = subprocess.run([args.capture_sample, f"--seed={seed}", capture, expected_path],
                            capture_output=True, text=True, timeout=240)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        return f"capture_sample exited {result.returncode}:\n{result.stderr}"
    # The reader must describe the file exactly as the writer did, the
    # interface id aside (the writer does not record it).
    reread_path = os.path.join(out_dir, "reread.jsonl")
    error = run_capture_sample_read(args.capture_sample, capture, reread_path)
    if error:
        return error
    written, reread = read_expected(expected_path), read_expected(reread_path)
    if len(written) != len(reread):
        check.fail("-", f"capture_sample --read found {len(reread)} frames, "
                   f"{len(written)} were written")
    for a, b in zip(written, reread):
        b = {k: v for k, v in b.items() if k != "interface"}
        if a != b:
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            check.fail(a["frame"], f"capture_sample --read differs from the writer in {diff}")
    return capture, expected_path


def dpdk_runtime_dirs(prefix):
    """Where the EAL keeps a file prefix's runtime files."""
    dirs = ["/var/run/dpdk/" + prefix]
    if os.environ.get("XDG_RUNTIME_DIR"):
        dirs.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "dpdk", prefix))
    dirs.append(os.path.join(tempfile.gettempdir(), "dpdk", prefix))
    return dirs


def make_dpdk_capture(args, out_dir):
    """Runs tern-perf over DPDK with --pcap and checks its report. Returns
    (capture, expected path, report) or an error message."""
    capture = os.path.join(out_dir, "dpdk.pcapng")
    json_path = os.path.join(out_dir, "tern-perf.json")
    log_path = os.path.join(out_dir, "tern-perf.log")
    eal_args = args.eal_args or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             os.pardir, "dpdk-eal-args.sh")
    memory = subprocess.run(["bash", eal_args, EAL_MEMORY_MB], capture_output=True, text=True)
    if memory.returncode != 0:
        return f"{eal_args} exited {memory.returncode}:\n{memory.stderr}"
    # Each DPDK process needs its own file prefix; the machine may be shared.
    prefix = f"tern-dissector-{os.getpid()}"
    cmd = ([args.tern_perf, "-l", "0-1", "--file-prefix", prefix] + memory.stdout.split() +
           ["--no-pci", "--"] + TERN_PERF_ARGS + ["--pcap", capture, "--json", json_path] +
           (["--ip", args.ip] if args.ip else []))
    print("dissector_test: " + " ".join(cmd))
    try:
        with open(log_path, "w") as log:
            result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=TERN_PERF_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"tern-perf did not finish in {TERN_PERF_TIMEOUT_S} s"
    finally:
        for d in dpdk_runtime_dirs(prefix):
            shutil.rmtree(d, ignore_errors=True)
    with open(log_path) as log:
        log_tail = "".join(log.readlines()[-20:])
    if result.returncode != 0:
        return f"tern-perf exited {result.returncode}:\n{log_tail}"
    try:
        with open(json_path) as f:
            doc = json.load(f)
        runs = doc["runs"]
    except (OSError, ValueError, KeyError) as e:
        return f"tern-perf's --json report is unreadable: {e}\n{log_tail}"
    report = {"retransmitted": 0, "pcap_frames_written": 0}
    for run in runs:
        counters = run.get("counters", {})
        if not (run.get("ok") and run.get("data_errors") == 0 and
                run.get("messages_completed") == run.get("messages_posted")):
            return (f"tern-perf run of {run.get('bytes')} B: ok {run.get('ok')}, "
                    f"{run.get('messages_completed')}/{run.get('messages_posted')} messages, "
                    f"{run.get('data_errors')} data errors, failure {run.get('failure')!r}")
        if counters.get("pcap_frames_missed", 0) != 0:
            return f"tern-perf missed {counters['pcap_frames_missed']} frames of the capture"
        report["retransmitted"] += run.get("retransmitted_packets", 0)
        report["pcap_frames_written"] += counters.get("pcap_frames_written", 0)
    if not doc.get("passed") or not runs:
        return f"tern-perf's report does not say passed:\n{log_tail}"
    expected_path = os.path.join(out_dir, "expected.jsonl")
    error = run_capture_sample_read(args.capture_sample, capture, expected_path)
    if error:
        return error
    return capture, expected_path, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture-sample", default=None)
    parser.add_argument("--dissector", required=True)
    parser.add_argument("--tshark", default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", default=None, help="write the capture and outputs here")
    parser.add_argument("--tern-perf", default=None,
                        help="capture a tern-perf run over DPDK and check that")
    parser.add_argument("--ip", default=None,
                        help="with --tern-perf: its --ip (the client's address; fd00::1 for IPv6)")
    parser.add_argument("--eal-args", default=None,
                        help="tools/dpdk-eal-args.sh (default: beside this directory)")
    parser.add_argument("--capture", default=None, help="check this pcapng file")
    parser.add_argument("--expected", default=None,
                        help="with --capture: its expected file (default: capture_sample --read)")
    try:
        args = parser.parse_args()
    except SystemExit as e:
        return EXIT_USAGE if e.code else EXIT_PASS
    mode = "dpdk" if args.tern_perf else "file" if args.capture else "sim"
    usage_error = None
    if args.tern_perf and args.capture:
        usage_error = "--tern-perf and --capture exclude each other"
    elif args.expected and not args.capture:
        usage_error = "--expected needs --capture"
    elif args.eal_args and not args.tern_perf:
        usage_error = "--eal-args needs --tern-perf"
    elif args.ip and not args.tern_perf:
        usage_error = "--ip needs --tern-perf"
    elif args.seed is not None and mode != "sim":
        usage_error = "--seed is for the simulated capture only"
    elif not args.capture_sample and not (mode == "file" and args.expected):
        usage_error = "--capture-sample is required"
    if usage_error:
        print(f"dissector_test: {usage_error}", file=sys.stderr)
        return EXIT_USAGE
    seed = args.seed if args.seed is not None else int(os.environ.get("TERN_SEED", "1"))
    label = {"sim": f"seed {seed}", "dpdk": "tern-perf over DPDK",
             "file": f"capture {args.capture}"}[mode]
    print(f"dissector_test: {label}")

    tshark = args.tshark or shutil.which("tshark") or "/usr/bin/tshark"
    if not os.access(tshark, os.X_OK):
        print(f"dissector_test: SKIP: tshark is not installed ({tshark})")
        return EXIT_SKIP

    with tempfile.TemporaryDirectory(prefix="tern-dissector-") as tmp:
        out_dir = args.keep or tmp
        os.makedirs(out_dir, exist_ok=True)
        check = Checker()
        report = None
        if mode == "sim":
            made = make_sim_capture(args, seed, out_dir, check)
        elif mode == "dpdk":
            made = make_dpdk_capture(args, out_dir)
        elif args.expected:
            made = (args.capture, args.expected)
        else:
            expected_path = os.path.join(out_dir, "expected.jsonl")
            made = (run_capture_sample_read(args.capture_sample, args.capture, expected_path) or
                    (args.capture, expected_path))
        if isinstance(made, str):
            print(f"dissector_test: FAIL: {label}: {made}")
            return EXIT_FAIL
        capture, expected_path = made[0], made[1]
        if mode == "dpdk":
            report = made[2]
        expected = read_expected(expected_path)

        # A private HOME and config dir: no personal plugin (a second copy of
        # tern.lua) or preference of the user's can interfere.
        home = os.path.join(tmp, "home")
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
        pdml_path = os.path.join(out_dir, "tshark.pdml")
        try:
            run_tshark(tshark, args.dissector, capture, env,
                       ["-T", "pdml", "-o", "tern.verify_checksum:TRUE"], out_path=pdml_path)
            unverified = run_tshark(tshark, args.dissector, capture, env,
                                    ["-o", "tern.verify_checksum:FALSE", "-T", "fields",
                                     "-e", "frame.number", "-e", "tern.checksum.status",
                                     "-e", "tern.drop_reason"])
            other_port = run_tshark(tshark, args.dissector, capture, env,
                                    ["-o", "tern.udp_ports:4000", "-Y", "tern",
                                     "-T", "fields", "-e", "frame.number"])
            # Wireshark's own UDP checksum check: 1 good, 0 bad, 2 none (IPv4).
            udp_checksums = run_tshark(tshark, args.dissector, capture, env,
                                       ["-o", "udp.check_checksum:TRUE", "-T", "fields",
                                        "-e", "frame.number", "-e", "udp.checksum.status"])
            packets = read_pdml(pdml_path)
        except (RuntimeError, subprocess.TimeoutExpired, ET.ParseError) as e:
            print(f"dissector_test: FAIL: {label}: {e}")
            return EXIT_FAIL

        if len(packets) != len(expected):
            check.fail("-", f"tshark read {len(packets)} frames, expected {len(expected)}")
        by_number = {pkts[0].number(): pkts for pkts in packets}
        for exp in expected:
            pkts = by_number.get(exp["frame"])
            if pkts is None:
                check.fail(exp["frame"], "missing from tshark's output")
                continue
            want = packets_of(exp)
            if "frame_error" not in exp and len(pkts) != len(want):
                check.fail(exp["frame"], f"tshark shows {len(pkts)} Tern packets, the C++ "
                           f"decoder {len(want)}")
                continue
            for one, pkt in zip(want, pkts):
                compare_frame(one, pkt, check)
        counts = None
        if mode == "sim":
            check_coverage(expected, check)
        elif mode == "dpdk":
            ip_version = 6 if args.ip and ":" in args.ip else 4
            counts = check_dpdk_capture(expected, check, ip_version)
            check_dpdk_ip_fields(packets, check, ip_version)
            if report["pcap_frames_written"] != len(expected):
                check.fail("-", f"tern-perf wrote {report['pcap_frames_written']} frames, "
                           f"the capture holds {len(expected)}")
        elif not any("frame_error" not in e for e in expected):
            check.fail("-", "the capture holds no Tern frame")

        # Preference: checksum verification off gives the verdict of a
        # receiver with checksum offload.
        rows = [line.split("\t") for line in unverified.splitlines() if line]
        by_frame = {int(r[0]): r for r in rows}
        for exp in expected:
            row = by_frame.get(exp["frame"])
            if row is None or "drop_reason_unverified" not in exp:
                continue
            # One value per Tern packet of the frame, comma-separated.
            pieces = packets_of(exp)
            want = [p.get("drop_reason_unverified") for p in pieces]
            statuses = [s for s in row[1].split(",") if s]
            want_statuses = ["2" for p in pieces if p.get("length", 0) >= 20]
            if row[2].split(",") != want or statuses != want_statuses:
                check.fail(exp["frame"], f"verify_checksum off: expected status 2 and verdicts "
                           f"{want}, tshark {row[1:]}")
        # IPv6 makes the UDP checksum mandatory, and the DPDK dataplane fills
        # it (the simulator's frames never leave it and carry 0).
        udp_status = dict(line.split("\t")[:2] for line in udp_checksums.splitlines()
                          if "\t" in line)
        for exp in expected:
            if mode == "dpdk" and exp.get("ip") == 6 and exp.get("drop_reason") == "none":
                got = udp_status.get(str(exp["frame"]))
                if got != "1":
                    check.fail(exp["frame"], f"UDP checksum status {got!r}, expected 1 (good)")
        # Preference: on another port, nothing is Tern.
        if other_port.strip():
            check.fail("-", "with tern.udp_ports 4000, frames still decode as Tern: "
                       f"{other_port.split()[:5]}")

        frames = len(expected)
        if not check.ok():
            print(f"dissector_test: FAIL: {label}: {len(check.failures)} mismatches "
                  f"over {frames} frames; first {min(MAX_REPORTED, len(check.failures))}:")
            for line in check.failures[:MAX_REPORTED]:
                print("  " + line)
            if mode == "sim":
                print(f"  rerun: {sys.argv[0]} --capture-sample {args.capture_sample} "
                      f"--dissector {args.dissector} --seed {seed} --keep /tmp/tern-dissector")
            else:
                print("  rerun with --keep DIR to keep the capture, the expected file and "
                      "tshark's PDML")
            return EXIT_FAIL
        if mode == "dpdk":
            print(f"dissector_test: PASS: {label}: {frames} frames ({counts['other']} not Tern; "
                  f"{counts['data']} DATA, {counts['ack']} ACK, {counts['nack']} NACK, "
                  f"{counts['coalesced']} of them coalesced after another; "
                  f"{counts['retransmit']} with RETRANSMIT; {counts['out']} sent, "
                  f"{counts['in']} received) match the C++ decoder; tern-perf retransmitted "
                  f"{report['retransmitted']} packets, 0 data errors")
        else:
            refused = sum(1 for e in expected
                          if "frame_error" not in e and e.get("drop_reason") != "none")
            other = sum(1 for e in expected if "frame_error" in e)
            print(f"dissector_test: PASS: {label}: {frames} frames ({refused} refused, "
                  f"{other} not Tern) match the C++ decoder")
        return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
