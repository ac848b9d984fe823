#!/usr/bin/env python3
"""Prints one 'N passed, N failed' line from meson's JUnit test log.

Counts individual GoogleTest cases, not test executables, so the line says
how many behaviours were checked. Exits non-zero when any failed or none ran.
"""
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    path, label = sys.argv[1], sys.argv[2]
    root = ET.parse(path).getroot()
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    print(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
