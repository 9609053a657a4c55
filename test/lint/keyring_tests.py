#!/usr/bin/python3
"""Every pg_regress test that writes credentials (it names a password) is listed in the
Makefile's KEYRING_REGRESS, so `make installcheck` on a server without a
keyring leaves it out (and says so) instead of failing it."""
import glob
import os
import re
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
make = open(os.path.join(TOP, "Makefile"), encoding="utf-8").read()
listed = set(re.search(r"^KEYRING_REGRESS\s*=\s*(.*)$", make, re.M).group(1).split())
needs = set()
for f in glob.glob(os.path.join(TOP, "sql", "*.sql")):
    name = os.path.basename(f)[:-4]
    if name.startswith("containers_vreg--"):
        continue
    code = [l for l in open(f, encoding="utf-8") if not l.lstrip().startswith("--")]
    if any("password" in l for l in code):
        needs.add(name)
missing = sorted(needs - listed)
if missing:
    print("not ok 1 - every test that writes credentials is in KEYRING_REGRESS")
    print("#   missing: " + " ".join(missing))
    sys.exit(1)
print("ok 1 - every test that writes credentials is in KEYRING_REGRESS (%d)" % len(needs))
