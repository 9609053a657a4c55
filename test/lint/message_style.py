#!/usr/bin/python3
"""Check the extension's error messages against PostgreSQL's error message
style guide, for the rules a program can check.

Scans every ereport() message part in src/*.c (errmsg, errdetail, errhint and
their _internal/_plural forms) and every RAISE message, DETAIL and HINT in
sql/install/*.sql. Prints one TAP line per rule and the offending places.

Rules (the README's "Errors" conventions say the same in prose):
  1. a primary message starts in lower case (an acronym such as URL or OCI,
     or a format such as %s, may lead) and has no trailing period;
  2. a detail or hint is a sentence: it starts with a capital (or a format)
     and ends with a period;
  3. a message part is one string literal (optionally several adjacent
     literals): no format macro spliced in (INT64_FORMAT: use %lld and a
     cast), no message assembled from variables;
  4. acronyms as written: URL, IPv4, IPv6, ASCII, not url, ipv6, ascii
     (a quoted name such as "url" for a column is fine);
  5. one wording per condition: "must not be NULL", never "must not be null";
  6. no module prefix: a message never starts with "containers_vreg:".
"""
import glob
import os
import re
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ACRONYM = re.compile(r"^(%|[A-Z0-9]{2,}\b|IPv[46]\b|ETag\b|[A-Za-z_]+\(|[a-z]+_[a-z_]+\b)")
LOWER_ACRONYMS = re.compile(r"(?<![\"\w])(url|urls|ipv4|ipv6|ascii)(?![\"\w])")

def c_parts(path):
    """(line, kind, literal or None, spliced) for each ereport message part."""
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"\b(errmsg|errmsg_internal|errmsg_plural|errdetail|errdetail_internal|errdetail_plural|errhint)\s*\(", text):
        kind = "msg" if m.group(1).startswith("errmsg") else m.group(1)[3:7]
        i = m.end()
        lits, spliced, depth = [], [], 0
        while i < len(text):
            ch = text[i]
            if ch.isspace():
                i += 1
            elif ch == '"':
                j = i + 1
                while text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                lits.append(text[i + 1:j])
                i = j + 1
            elif ch in ",)" and depth == 0:
                break
            else:
                t = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
                if t:
                    spliced.append(t.group(0)); i += len(t.group(0))
                else:
                    if ch == "(":
                        depth += 1
                    elif ch == ")":
                        depth -= 1
                    spliced.append(ch); i += 1
        line = text.count("\n", 0, m.start()) + 1
        yield line, kind, ("".join(lits) if lits else None), spliced

def sql_parts(path):
    text = open(path, encoding="utf-8").read()
    pat = re.compile(r"RAISE\s+(?:EXCEPTION|WARNING|NOTICE)\s+'((?:[^']|'')*)'|\b(MESSAGE|DETAIL|HINT)\s*=\s*'((?:[^']|'')*)'", re.I)
    for m in pat.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if m.group(1) is not None:
            yield line, "msg", m.group(1).replace("''", "'"), []
        else:
            kind = {"MESSAGE": "msg", "DETAIL": "deta", "HINT": "hint"}[m.group(2).upper()]
            yield line, kind, m.group(3).replace("''", "'"), []

def main():
    parts = []
    for f in sorted(glob.glob(os.path.join(TOP, "src", "*.c"))):
        parts += [(os.path.relpath(f, TOP),) + p for p in c_parts(f)]
    for f in sorted(glob.glob(os.path.join(TOP, "sql", "install", "*.sql"))):
        parts += [(os.path.relpath(f, TOP),) + p for p in sql_parts(f)]
    rules = {
        "primary messages start in lower case and have no trailing period": [],
        "details and hints are sentences: a capital first, a period last": [],
        "message parts are string literals, no spliced format macros": [],
        "acronyms as written (URL, IPv6, ASCII)": [],
        "one wording: must not be NULL": [],
        "no module prefix on messages": [],
    }
    names = list(rules)
    for f, line, kind, lit, spliced in parts:
        where = "%s:%d" % (f, line)
        bad_splice = [s for s in spliced if re.match(r"^[A-Z0-9_]+_FORMAT$", s)]
        if lit is None or bad_splice:
            rules[names[2]].append("%s: %s" % (where, " ".join(bad_splice) or "no literal"))
            if lit is None:
                continue
        if kind == "msg":
            if (lit[:1].isupper() and not ACRONYM.match(lit)) or (lit.endswith(".") and not lit.endswith("...")):
                rules[names[0]].append("%s: %s" % (where, lit))
        else:
            first = lit[:1]
            if not lit.rstrip().endswith((".", ".)")) or (first.islower() and not ACRONYM.match(lit)):
                rules[names[1]].append("%s: %s" % (where, lit))
        if LOWER_ACRONYMS.search(lit):
            rules[names[3]].append("%s: %s" % (where, lit))
        if "must not be null" in lit:
            rules[names[4]].append("%s: %s" % (where, lit))
        if lit.lower().startswith("containers_vreg:"):
            rules[names[5]].append("%s: %s" % (where, lit))
    n = fails = 0
    print("# %d message parts checked" % len(parts))
    for name in names:
        n += 1
        if rules[name]:
            fails += 1
            print("not ok %d - %s" % (n, name))
            for b in rules[name]:
                print("#   " + b)
        else:
            print("ok %d - %s" % (n, name))
    return 1 if fails else 0

if __name__ == "__main__":
    sys.exit(main())
