#!/usr/bin/python3
"""Code states its rules, or points into docs/design.md: it never cites a
document outside the repository ("DESIGN section 5", "issue 6 item 4").
Checks src, sql (but the install and update scripts of released versions,
which are frozen as they shipped), expected, test, scripts, docs, the README,
the CHANGELOG and the Makefile (this folder, which names the pattern,
excepted). One TAP line."""
import os
import re
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PATTERN = re.compile(r"DESIGN|\b[Ii]ssues? #?[0-9]")
HERE = os.path.relpath(os.path.dirname(os.path.abspath(__file__)), TOP)


def current_version():
    control = open(os.path.join(TOP, "containers_vreg.control"), encoding="utf-8").read()
    return re.search(r"^default_version\s*=\s*'([^']*)'", control, re.M).group(1)


def frozen(path):
    """A released install script, or an update script to a released version."""
    m = re.match(r"sql/containers_vreg--(?:[0-9.]+--)?([0-9.]+)\.sql$", path)
    return m is not None and m.group(1) != current_version()


def files():
    for root in ("src", "sql", "expected", "test", "scripts", "docs"):
        for d, _, names in os.walk(os.path.join(TOP, root)):
            rel = os.path.relpath(d, TOP)
            if rel == HERE or rel.startswith(HERE + os.sep):
                continue
            for n in sorted(names):
                if not frozen(os.path.join(rel, n)):
                    yield os.path.join(d, n)
    for n in ("Makefile", "README.md", "CHANGELOG.md"):
        yield os.path.join(TOP, n)


def main():
    found = []
    for f in files():
        try:
            lines = open(f, encoding="utf-8").read().split("\n")
        except (UnicodeDecodeError, OSError):
            continue
        for i, line in enumerate(lines, 1):
            if PATTERN.search(line):
                found.append("%s:%d: %s" % (os.path.relpath(f, TOP), i, line.strip()[:100]))
    name = "no citation of documents outside the repository in code"
    if not found:
        print("ok 1 - " + name)
        return 0
    print("not ok 1 - " + name)
    for x in found:
        print("#   " + x)
    return 1


if __name__ == "__main__":
    sys.exit(main())
