#!/usr/bin/python3
"""Run the README's SQL examples in order and check the results they show.

Used by test/scripts/readme_examples.sh (which starts the servers); not a test
on its own. Prints TAP lines ("ok N - ..." / "not ok N - ...").

What runs:
  * every fenced block whose info string is exactly `sql`, in document order,
    one psql session per block, stopping at the first unexpected error;
  * every inline example in the Reference section: a code span that starts
    with an SQL command and ends with ";", each in its own transaction that is
    rolled back (so Reference examples do not depend on each other).

Where a block runs is set by an HTML comment on the lines just before its
fence (blank lines and other comments may sit in between):
  <!-- not run: <reason> -->   the block is not run (a reason is required)
  <!-- run on: shards -->      run in the shard database of every shard
  <!-- run on: router -->      run in the router database
  <!-- run on: router as R --> the same, connected as role R
Without a marker a block runs in the main database.

What is checked:
  * a statement whose line ends in `-- → <expected>` must print exactly
    <expected> (psql -At with " | " between columns; several rows are joined
    with "; "; "…" stands for any text);
  * `-- → ERROR <SQLSTATE>` (optionally `: <message>`) means the statement must
    fail with that SQLSTATE (and message);
  * in the Reference, "`<statement>;` → `<expected>`" is checked the same way;
  * any other error fails the block;
  * every fence has a known info string, so no SQL escapes the test under
    another name (`sql-output` is for printed results, which are not run).
"""
import argparse
import os
import re
import subprocess
import sys

KNOWN_FENCES = {"sql", "sql-output", "sh", "text", "ini", ""}
SQL_START = re.compile(r"^(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|GRANT|REVOKE|COPY|TRUNCATE|CALL|SET)\b")
ARROW = "→"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("readme")
    p.add_argument("--target", action="append", default=[],
                   help="name=host:port:dbname[,host:port:dbname...] (main, router, shards)")
    p.add_argument("--skip", action="append", default=[],
                   help="name=reason: blocks for this target are reported as skipped")
    p.add_argument("--subst", action="append", nargs=2, default=[], metavar=("FROM", "TO"),
                   help="text replaced in blocks before they run (connection strings)")
    p.add_argument("--psql", default="psql")
    return p.parse_args()


# --- README parsing ---------------------------------------------------------

class Block:
    def __init__(self, line, info, text, section, markers):
        self.line, self.info, self.text, self.section, self.markers = line, info, text, section, markers


def read_blocks(lines):
    """Fenced blocks (with their markers) and problems found."""
    blocks, problems = [], []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)```(.*)$", line)
        if not m:
            h = re.match(r"^(#{1,4}) (.*)", line)
            if h:
                section = h.group(2).strip()
            i += 1
            continue
        indent, info = m.group(1), m.group(2).strip()
        start = i
        body = []
        i += 1
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        if i >= len(lines):
            problems.append("line %d: unterminated fence" % (start + 1))
            break
        i += 1
        if info not in KNOWN_FENCES:
            problems.append("line %d: unknown fence info string %r (use one of %s)"
                            % (start + 1, info, ", ".join(sorted(k or "(none)" for k in KNOWN_FENCES))))
        markers = {}
        j = start - 1
        while j >= 0 and (lines[j].strip() == "" or re.match(r"^\s*<!--.*-->\s*$", lines[j])):
            c = re.match(r"^\s*<!--\s*(not run|run on)\s*:\s*(.*?)\s*-->\s*$", lines[j])
            if c:
                markers.setdefault(c.group(1), c.group(2))
            j -= 1
        if "not run" in markers and not markers["not run"]:
            problems.append("line %d: <!-- not run: --> without a reason" % (start + 1))
        blocks.append(Block(start + 1, info, "\n".join(body) + "\n", section, markers))
    return blocks, problems


def reference_examples(lines):
    """Inline examples of the Reference: (line, subsection, statement, expected)."""
    out = []
    in_ref = False
    sub = ""
    for n, line in enumerate(lines, 1):
        if line.startswith("## "):
            in_ref = line.strip() == "## Reference"
            continue
        if not in_ref:
            continue
        if line.startswith("### "):
            sub = line[4:].strip()
        for m in re.finditer(r"`([^`]+)`(\s*" + ARROW + r"\s*`([^`]*)`)?", line):
            code = m.group(1).strip()
            if SQL_START.match(code) and code.endswith(";"):
                out.append((n, sub, code, m.group(3)))
    return out


def slug(heading):
    """GitHub's anchor for a heading."""
    h = re.sub(r"[`*]", "", heading.strip().lower())
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(path):
    """The anchors of a file's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    out, seen, in_fence = set(), {}, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^\s*```", line):
                in_fence = not in_fence
            elif not in_fence and re.match(r"^#{1,6} ", line):
                base = slug(line.lstrip("#"))
                k = seen.get(base, 0)
                seen[base] = k + 1
                out.add(base if k == 0 else "%s-%d" % (base, k))
    return out


def broken_links(path):
    """Links to a missing file or heading, from a Markdown file of the repository."""
    base = os.path.dirname(os.path.abspath(path))
    bad = []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for m in re.finditer(r"\]\(([^)\s]+)\)", text):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, frag = target.partition("#")
        full = os.path.normpath(os.path.join(base, file)) if file else os.path.abspath(path)
        if not os.path.exists(full):
            bad.append("%s: %s (no such file)" % (os.path.basename(path), target))
        elif frag and full.endswith(".md") and frag not in anchors(full):
            bad.append("%s: %s (no such heading)" % (os.path.basename(path), target))
    return bad


# --- statements ---------------------------------------------------------------

def split_statements(sql):
    """([(text, expected or None)], leftover): statements ended by ';' outside
    quotes and comments, or by a psql meta-command (a backslash outside quotes,
    to the end of its line: \i, \gset); the expectation is a `-- → ...`
    comment after the terminating ';' on its line, or alone on the next line."""
    stmts = []
    buf = []
    i, n = 0, len(sql)
    at_start = True

    arrow = re.compile(r"^[ \t]*--[ \t]*" + ARROW + r"[ \t]*(.*?)[ \t]*$")

    def finish(exp=None):
        text = "".join(buf).strip()
        if text:
            stmts.append((text, exp))
        buf.clear()

    while i < n:
        c = sql[i]
        if at_start and c in " \t\n":
            buf.append(c); i += 1; continue
        at_start = False
        if c == "\\":
            # a psql meta-command: on a line of its own (\i) or after a query (\gset),
            # it runs to the end of the line and ends the statement
            j = sql.find("\n", i)
            j = n if j < 0 else j
            buf.append(sql[i:j]); finish(); i = j; at_start = True; continue
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            buf.append(sql[i:j]); i = j; continue
        if sql.startswith("/*", i):
            depth, j = 0, i
            while j < n:
                if sql.startswith("/*", j):
                    depth += 1; j += 2
                elif sql.startswith("*/", j):
                    depth -= 1; j += 2
                    if depth == 0:
                        break
                else:
                    j += 1
            buf.append(sql[i:j]); i = j; continue
        if c == "'" or c == '"':
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2; continue
                    break
                j += 1
            buf.append(sql[i:j + 1]); i = j + 1; continue
        if c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", sql[i:])
            if m:
                tag = m.group(0)
                j = sql.find(tag, i + len(tag))
                j = n if j < 0 else j + len(tag)
                buf.append(sql[i:j]); i = j; continue
        if c == ";":
            buf.append(c)
            j = sql.find("\n", i)
            j = n if j < 0 else j
            rest = sql[i + 1:j]
            if rest.strip() and not rest.strip().startswith("--"):
                # another statement on the same line: no expectation for this one
                finish(); i += 1; at_start = True; continue
            m = arrow.match(rest)
            if not m and j < n:
                # or on the next line, when that line is only the expectation
                k = sql.find("\n", j + 1)
                k = n if k < 0 else k
                m = arrow.match(sql[j + 1:k])
                if m:
                    j = k
            finish(m.group(1) if m else None); i = j; at_start = True; continue
        buf.append(c); i += 1
    leftover = "".join(buf).strip()
    leftover = "\n".join(l for l in leftover.splitlines() if not l.strip().startswith("--")).strip()
    return stmts, leftover


def pattern(expected):
    return re.compile(".*".join(re.escape(p) for p in expected.split("…")), re.S)


def check(expected, out, sqlstate, message):
    """None when the result matches, else what differs."""
    if expected is None:
        return None
    m = re.match(r"^ERROR ([0-9A-Z]{5})(?::\s*(.*))?$", expected)
    if m:
        if sqlstate != m.group(1):
            return "want ERROR %s, got %s" % (m.group(1), "no error (" + out + ")" if sqlstate == "00000" else sqlstate + ": " + message)
        if m.group(2) and not pattern(m.group(2)).fullmatch(message):
            return "want message %r, got %r" % (m.group(2), message)
        return None
    if sqlstate != "00000":
        return "want %r, got ERROR %s: %s" % (expected, sqlstate, message)
    if not pattern(expected).fullmatch(out):
        return "want %r, got %r" % (expected, out)
    return None


def run_psql(psql, conn, script, user=None):
    host, port, db = conn
    cmd = [psql, "-X", "-q", "-At", "-F", " | ", "-P", "null=NULL", "-h", host, "-p", port, "-d", db]
    if user:
        cmd += ["-U", user]
    p = subprocess.run(cmd, input=script, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def run_statements(psql, conn, stmts, user=None):
    """Run statements in one session. Returns a list of problems."""
    script = ["\\set ON_ERROR_STOP 1"]
    for k, (text, exp) in enumerate(stmts):
        expect_error = exp is not None and exp.startswith("ERROR ")
        if expect_error:
            script.append("\\set ON_ERROR_STOP 0")
        script.append("\\echo @@S %d" % k)
        script.append(text)
        script.append("\\echo @@E %d :SQLSTATE" % k)
        script.append("\\echo @@M %d :LAST_ERROR_MESSAGE" % k)
        if expect_error:
            script.append("\\set ON_ERROR_STOP 1")
    rc, out, err = run_psql(psql, conn, "\n".join(script) + "\n", user)
    results = {}
    cur, rows = None, []
    for line in out.splitlines():
        m = re.match(r"^@@S (\d+)$", line)
        if m:
            cur, rows = int(m.group(1)), []
            continue
        m = re.match(r"^@@E (\d+) (\S*)$", line)
        if m:
            results[int(m.group(1))] = ["; ".join(rows), m.group(2), ""]
            cur = None
            continue
        m = re.match(r"^@@M (\d+) ?(.*)$", line)
        if m:
            if int(m.group(1)) in results:
                results[int(m.group(1))][2] = m.group(2)
            continue
        if cur is not None:
            rows.append(line.rstrip())
    problems = []
    for k, (text, exp) in enumerate(stmts):
        first = next((l for l in text.splitlines() if not l.lstrip().startswith("--")), text.splitlines()[0])
        if k not in results:
            problems.append("statement %d (%s) failed: %s" % (k + 1, first, err.strip() or "psql exit %d" % rc))
            break
        got, sqlstate, message = results[k]
        diff = check(exp, got, sqlstate, message)
        if diff:
            problems.append("statement %d (%s): %s" % (k + 1, first, diff))
    if rc != 0 and not problems:
        problems.append("psql exit %d: %s" % (rc, err.strip()))
    return problems


# --- main -------------------------------------------------------------------------

def main():
    a = parse_args()
    targets = {}
    for t in a.target:
        name, spec = t.split("=", 1)
        targets[name] = [tuple(s.split(":", 2)) for s in spec.split(",")]
    skips = dict(s.split("=", 1) for s in a.skip)
    with open(a.readme, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, problems = read_blocks(lines)

    n = 0
    fails = 0

    def tap(ok, desc, diag=()):
        nonlocal n, fails
        n += 1
        if ok:
            print("ok %d - %s" % (n, desc))
        else:
            fails += 1
            print("not ok %d - %s" % (n, desc))
            for d in diag:
                print("#   " + d.replace("\n", "\n#   "))
        sys.stdout.flush()

    tap(not problems, "every fence of the README has a known info string and every skipped block a reason", problems)
    docs = os.path.join(os.path.dirname(os.path.abspath(a.readme)), "docs")
    md = [a.readme] + sorted(os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md")) if os.path.isdir(docs) else [a.readme]
    bad = [b for f in md for b in broken_links(f)]
    tap(not bad, "every link of the README and docs/*.md names a file and heading that exist", bad)

    sql_blocks = [b for b in blocks if b.info == "sql"]
    checked = 0
    substituted = set()
    for b in sql_blocks:
        where = "README line %d (%s)" % (b.line, b.section)
        if "not run" in b.markers:
            print("# not run: %s: %s" % (where, b.markers["not run"]))
            continue
        target, user = "main", None
        if "run on" in b.markers:
            m = re.match(r"^(\w+)(?:\s+as\s+(\w+))?$", b.markers["run on"])
            if not m:
                tap(False, "%s: bad marker %r" % (where, b.markers["run on"]))
                continue
            target, user = m.group(1), m.group(2)
        if target in skips:
            n += 1
            print("ok %d # SKIP %s: %s" % (n, where, skips[target]))
            continue
        if target not in targets:
            tap(False, "%s: unknown target %r" % (where, target))
            continue
        text = b.text
        for old, new in a.subst:
            if old in text:
                substituted.add(old)
                text = text.replace(old, new)
        stmts, leftover = split_statements(text)
        probs = []
        if leftover:
            probs.append("text after the last ';': " + leftover[:200])
        nexp = sum(1 for s in stmts if s[1] is not None)
        checked += nexp
        for conn in targets[target]:
            probs += run_statements(a.psql, conn, stmts, user)
        on = "" if target == "main" else " on %s%s" % (target, " as " + user if user else "")
        tap(not probs, "%s%s: %d statements, %d results checked" % (where, on, len(stmts), nexp), probs)

    if a.subst and "router" not in skips:
        missing = [old for old, _ in a.subst if old not in substituted]
        tap(not missing, "the connection strings the test replaces are in the README", missing)

    examples = reference_examples(lines)
    by_sub = {}
    for ex in examples:
        by_sub.setdefault(ex[1], []).append(ex)
    for sub, exs in by_sub.items():
        if "main" in skips:
            continue
        stmts = []
        for line, _, code, exp in exs:
            s, leftover = split_statements(code + "\n")
            if leftover or not s:
                stmts.append(("-- line %d: cannot split" % line, None))
                continue
            # the expectation belongs to the last statement of the span
            s = [(t, None) for t, _ in s[:-1]] + [(s[-1][0], exp)]
            stmts.append(s)
        # one session per subsection; each inline example in a transaction that is rolled back
        probs = []
        script_stmts = []
        for (line, _, code, exp), s in zip(exs, stmts):
            if isinstance(s, tuple):
                probs.append("line %d: cannot split %s" % (line, code))
                continue
            script_stmts += [("BEGIN;", None)] + [("-- README line %d\n" % line + t, e) for t, e in s] + [("ROLLBACK;", None)]
        probs += run_statements(a.psql, targets["main"][0], script_stmts)
        nexp = sum(1 for e in exs if e[3] is not None)
        checked += nexp
        tap(not probs, "Reference, %s: %d inline examples, %d results checked" % (sub, len(exs), nexp), probs)

    tap(checked > 0 and examples, "the README has examples with results to check (%d results checked in all)" % checked)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
