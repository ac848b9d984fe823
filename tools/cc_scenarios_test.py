#!/usr/bin/python3
"""Tests of tools/cc-scenarios.py: the fairness flows' arithmetic, the
convergence statistics, the --seeds parser, and a run of both report modes.

  cc_scenarios_test.py TERN_REPLAY
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "cc-scenarios.py")
spec = importlib.util.spec_from_file_location("cc_scenarios", SCRIPT)
cc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cc)
REPLAY = None  # set from argv


class FairFlowsTest(unittest.TestCase):
    def test_equal_shares_make_each_flow_leave_n_steps_after_it_joins(self):
        flows = cc.fair_flows([4, 8, 12, 16])
        self.assertEqual([(s, t) for s, t, _ in flows], [(4, 0), (8, 150), (12, 300), (16, 450)])
        # Replay equal sharing step by step: every flow must finish exactly at
        # the end of step n + i.
        step_bytes = cc.LINE_BYTES_PER_US * cc.FAIR_STEP_US
        left = [b for _, _, b in flows]
        finished = {}
        for k in range(2 * len(flows)):
            running = [i for i in range(len(flows)) if i <= k and i not in finished]
            for i in running:
                left[i] -= step_bytes / len(running)
            for i in running:
                if abs(left[i]) < 1:
                    finished[i] = k + 1
        self.assertEqual(finished, {0: 4, 1: 5, 2: 6, 3: 7})


class FairnessTest(unittest.TestCase):
    def test_convergence_is_timed_from_every_join_and_every_leave_that_leaves_two(self):
        # Three flows: join at 0, 100, 200; leave at 300, 400, 500.
        flows = [{"start_us": str(s), "finish_us": str(f), "status": "ok"}
                 for s, f in [(0, 300), (100, 400), (200, 500)]]
        points = []
        for t in range(5, 500, 5):
            active = sum(1 for f in flows if float(f["start_us"]) <= t < float(f["finish_us"]))
            # Fair from 40 us after each event on, unfair before. A sample
            # covers the window that ends at its time, so the one at an
            # event's time still belongs to the regime before it.
            since = t - max(e for e in (0, 100, 200, 300, 400) if e < t)
            jain = 0.99 if since >= 40 else 0.6
            points.append({"time_us": str(t), "active": str(active), "stalled": "0",
                           "jain": str(jain)})
        r = cc.fairness(flows, points, 10)
        self.assertEqual([(c["event"], c["at_us"]) for c in r["convergence"]],
                         [("join", 100), ("join", 200), ("leave", 300)])
        self.assertEqual([c["us"] for c in r["convergence"]], [40, 40, 40])

    def test_never_settling_is_none(self):
        flows = [{"start_us": "0", "finish_us": "200", "status": "ok"},
                 {"start_us": "50", "finish_us": "200", "status": "ok"}]
        points = [{"time_us": str(t), "active": "2", "stalled": "0", "jain": "0.7"}
                  for t in range(60, 200, 5)]
        r = cc.fairness(flows, points, 10)
        self.assertEqual(r["convergence"], [{"event": "join", "at_us": 50, "us": None}])
        self.assertEqual(r["share_at_or_above_target"], 0)


class SeedsTest(unittest.TestCase):
    def test_count_and_list(self):
        self.assertEqual(cc.parse_seeds("3"), [1, 2, 3])
        self.assertEqual(cc.parse_seeds("7,3"), [7, 3])

    def test_bad_values_are_refused(self):
        for bad in ["0", "-1", "x", "1,1", "2,0", ""]:
            with self.assertRaises(argparse.ArgumentTypeError, msg=bad):
                cc.parse_seeds(bad)


class RunTest(unittest.TestCase):
    def run_script(self, *args):
        out = tempfile.mkdtemp(prefix="cc-scenarios-test-")
        self.addCleanup(shutil.rmtree, out)
        self.out = out
        p = subprocess.run([sys.executable, SCRIPT, "--out", out, "--cc", "fixed",
                            "--replay", REPLAY, *args], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "cc-scenarios.json")) as f:
            return p.stdout, json.load(f)

    def test_one_seed_gives_every_scenario_table(self):
        text, results = self.run_script("--seed", "2")
        self.assertEqual(results["seed"], 2)
        for heading in ["8:1 incast of 2 MB, 1-BDP", "Fairness: 4 flows", "Spraying"]:
            self.assertIn(heading, text)
        self.assertEqual(results["incast"]["fixed"]["completed"], 8)
        # The runs' outputs stay beside the report, so the recorded commands
        # can be run again: the flow file they name is there.
        runs = os.path.join(self.out, "runs", "replay-seed2")
        flows = os.path.join(runs, "fairness.flows")
        self.assertIn(f"--workload=flows:{flows}", results["commands"]["fairness/fixed"])
        self.assertTrue(os.path.isfile(flows))
        self.assertEqual(sorted(os.listdir(os.path.join(self.out, "runs"))), ["replay-seed2"])

    def test_flags_reach_every_run(self):
        # 8 senders of 16 unpulled packets cannot overflow the 1-BDP buffer.
        _, results = self.run_script("--seed", "1", "--flags", "--pull-window 16")
        self.assertEqual(results["incast"]["fixed"]["dropped"], 0)
        self.assertIn("--pull-window 16", results["commands"]["incast/fixed"])

    def test_fabric_keys_reach_every_scenario(self):
        _, results = self.run_script("--seed", "1", "--fabric-keys", "jitter=0.002")
        for name, cmd in results["commands"].items():
            self.assertRegex(cmd, r"--fabric=sim[:,][^ ]*jitter=0\.002", name)
        self.assertIn("--fabric=sim:buffer=16000000,jitter=0.002",
                      results["commands"]["incast-deep/fixed"])
        self.assertIn("--fabric=sim:jitter=0.002 ", results["commands"]["incast/fixed"])

    def test_the_same_build_as_its_own_baseline_gives_ratios_of_one(self):
        # Same binary, same seeds: the simulator is deterministic, so every
        # median is the same on both sides.
        text, results = self.run_script("--seeds", "3,1", "--baseline", REPLAY)
        self.assertEqual(sorted(results), ["baseline", "replay"])
        self.assertEqual([r["seed"] for r in results["replay"]], [3, 1])
        for side in ["baseline", "replay"]:
            self.assertEqual(results[side][0]["incast"], results["replay"][0]["incast"])
        rows = [line for line in text.splitlines() if line.startswith("| fixed |")]
        self.assertEqual(len(rows), len(cc.SUMMARY_FIELDS))
        for row in rows:
            self.assertTrue(row.rstrip(" |").endswith("1.00"), row)


if __name__ == "__main__":
    REPLAY = sys.argv.pop(1)
    unittest.main()
