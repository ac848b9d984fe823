#!/usr/bin/env python3
"""Integration: rte_telemetry commands of a running tern-perf over DPDK.

Starts a long --loopback run, connects to its telemetry socket, and checks
/tern/workers, /tern/qps and /tern/qp report counters that grow, and that
/tern/faults,loss=0.3 makes worker 0 drop frames until /tern/faults,loss=0
stops it (the run still completes with every byte verified).
  telemetry_test.py TERN_PERF DPDK_EAL_ARGS_SCRIPT
"""
import json
import os
import socket
import subprocess
import sys
import time

perf, eal_args_script = sys.argv[1], sys.argv[2]
prefix = f"tern-tel-{os.getpid()}"
mem = subprocess.run([eal_args_script, "512"], check=True, capture_output=True, text=True).stdout.split()
cmd = [perf, "-l", "0-1", "--file-prefix", prefix, *mem, "--no-pci", "--",
       "--fabric=dpdk", "--loopback", "--test=write_bw", "-s", "65536", "-n", "300000",
       "--verify", "--quiet", "--timeout", "120",
       # The telemetry client shares the two cores with both lcores: a longer
       # retry budget rides out their descheduling (the default gives up after
       # 25.5 ms of silence).
       "--min-rto", "1000", "--retry-cnt", "12"]
run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def fail(why):
    run.kill()
    out = run.communicate()[0]
    print("FAIL:", why, "\n", out[-3000:])
    sys.exit(1)


path = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
deadline = time.time() + 30
while not os.path.exists(path):
    if time.time() > deadline or run.poll() is not None:
        fail(f"no telemetry socket at {path}")
    time.sleep(0.1)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.connect(path)
sock.recv(16384)  # the greeting


def query(command):
    if run.poll() is not None:
        fail("tern-perf ended before the checks did (make its run longer)")
    sock.send(command.encode())
    return json.loads(sock.recv(1 << 20).decode())[command.split(",")[0]]


def workers():
    # The run publishes once its QPs exist; wait for them.
    end = time.time() + 30
    while time.time() < end:
        w = query("/tern/workers")
        if w and "worker0" in w and "worker1" in w:
            return w
        time.sleep(0.05)
    fail("no worker published telemetry")


first = workers()
time.sleep(0.3)
second = workers()
if not second["worker0"]["tx_frames"] > first["worker0"]["tx_frames"]:
    fail(f"tx_frames did not grow: {first['worker0']} -> {second['worker0']}")
# Loopback: one QP a side, both in RTS, named a page at a time.
qps = query("/tern/qps")
if qps.get("qps") != 2 or qps.get("states") != {"RTS": 2} or len(qps.get("names", [])) != 2:
    fail(f"/tern/qps: {qps}")
sent = qps["total"]["data_packets_sent"]
if sent == 0:
    fail(f"/tern/qps: no data packets sent in total: {qps}")
second_page = query("/tern/qps,1")
if second_page.get("first") != 1 or second_page.get("names") != qps["names"][1:]:
    fail(f"/tern/qps,1: {second_page}")
one = {name: query(f"/tern/qp,{name}") for name in qps["names"]}
if not all(q.get("state") == "RTS" for q in one.values()) or \
        sum(q["data_packets_sent"] for q in one.values()) < sent:
    fail(f"/tern/qp: {one}")
for bad in ("/tern/qp,worker9_qp0x1", "/tern/qp", "/tern/qps,x"):
    if "error" not in query(bad):
        fail(f"{bad} was answered: {query(bad)}")
print(f"ok   /tern/workers, /tern/qps and /tern/qp: {qps['qps']} QPs in RTS, "
      f"{sent} data packets sent")

bad = query("/tern/faults,loss=2")
if "error" not in bad:
    fail(f"a bad fault spec was accepted: {bad}")
# 30% loss: the transport recovers (a total blackout would rightly end the
# QP with RETRY_EXC_ERR after its retry budget).
query("/tern/faults,loss=0.3")
time.sleep(0.2)
dropped_before = workers()["worker0"]["fault_dropped"]
time.sleep(0.3)
dropped_after = workers()["worker0"]["fault_dropped"]
if dropped_after <= dropped_before:
    fail(f"loss=0.3 dropped nothing: fault_dropped {dropped_before} -> {dropped_after}")
shown = query("/tern/faults")
if "loss=0.3" not in shown.get("worker0", ""):
    fail(f"/tern/faults does not show the change: {shown}")
query("/tern/faults,loss=0")
time.sleep(0.2)
settled = workers()["worker0"]["fault_dropped"]
time.sleep(0.3)
if workers()["worker0"]["fault_dropped"] != settled:
    fail("loss=0 did not stop the drops")
print(f"ok   /tern/faults: loss=0.3 dropped {dropped_after - dropped_before} frames in 0.3 s, "
      "loss=0 stopped the drops")
out = run.communicate(timeout=150)[0]
if run.returncode != 0:
    print(out[-3000:])
    fail(f"tern-perf exited {run.returncode}")
print("ok   the run completed with every byte verified")
