#!/usr/bin/python3
"""Check the extension's error messages against PostgreSQL's error message
style guide, for the rules a program can check.

Scans every ereport() message part in src/*.c (errmsg, errdetail, errhint and
their _internal/_plural forms), every elog() message, every RAISE message,
DETAIL and HINT in sql/install/*.sql, and the reason strings that the pure-C
parsers (url_check.c, oci_path.c, cred_rules.c, envelope.c) return for
messages. Prints one TAP line per rule and the offending places.

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
  6. no module prefix: a message never starts with "containers_vreg:", at
     any level (elog and DEBUG messages too);
  7. one wording per not-found condition, in C and PL/pgSQL alike:
     "registry %lld of group %lld does not exist" (SQL: "% of group %"), and
     the same for upstream and cache entry;
  8. a failed system call is named for what failed: "could not stat" after
     stat()/fstat(), "could not open" after open(), "could not read" after
     read();
  9. the reason strings of the pure-C parsers, which end up in messages
     after a colon, follow rules 1, 4 and 6.
Rule 2 also refuses a detail or hint that is only a label and a value
("Group %lld."); rule 3 also refuses a part that is only "%s" (a message
chosen by a variable).
"""
import glob
import os
import re
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Files whose messages are not checked, with the reason (printed).
EXEMPT = {
}
PURE_C_PARSERS = ["url_check.c", "oci_path.c", "cred_rules.c", "envelope.c"]
ACRONYM = re.compile(r"^(%|[A-Z0-9]{2,}\b|IPv[46]\b|ETag\b|[A-Za-z_]+\(|[a-z]+_[a-z_]+\b)")
LOWER_ACRONYMS = re.compile(r"(?<![\"\w])(url|urls|ipv4|ipv6|ascii|nat|json|etag)(?![\"\w])")
LABEL_ONLY = re.compile(r"^\w+( \w+)? %\S+\.$")
NOT_FOUND_SUBJECT = re.compile(r"^(registry|upstream|cache entry) ")
NOT_FOUND_C = re.compile(r"^(registry|upstream|cache entry) %lld of group %lld does not exist$")
NOT_FOUND_SQL = re.compile(r"^(registry|upstream|cache entry) % of group % does not exist$")
SYSCALL_VERB = [(re.compile(r"\b(f|l)?stat\s*\("), "stat"),
                (re.compile(r"\b(open|OpenTransientFile|AllocateFile)\s*\("), "open"),
                (re.compile(r"\bread\s*\("), "read")]

def c_parts(path):
    """(line, kind, literal or None, spliced) for each ereport message part."""
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"\b(errmsg|errmsg_internal|errmsg_plural|errdetail|errdetail_internal|errdetail_plural|errhint|elog)\s*\(", text):
        kind = "msg" if m.group(1).startswith("errmsg") else m.group(1)[3:7]
        i = m.end()
        if m.group(1) == "elog":
            # skip the level argument
            kind = "elog"
            i = text.index(",", i) + 1
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

def strip_c(text):
    """text with comments and character literals blanked (lines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text[i] == "'":
            j = i + 1
            while text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i)); i = j + 1
        elif text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1]); i = j + 1
        else:
            out.append(text[i]); i += 1
    return "".join(out)

def reason_parts(path):
    """Prose string literals of a pure-C parser (the reasons it returns)."""
    text = strip_c(open(path, encoding="utf-8").read())
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', text):
        lit = m.group(1)
        before = text[:m.start()]
        in_assert = re.search(r"static_?assert\s*\([^;]*$", before[-300:], re.I)
        if re.search(r"[a-z]+ [a-z]+", lit) and not in_assert:
            yield text.count("\n", 0, m.start()) + 1, "reason", lit, []

def syscall_mismatches(path):
    """'could not <verb>' messages whose if-condition calls another syscall."""
    lines = open(path, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        m = re.search(r'errmsg\("could not (stat|open|read) ', line)
        if not m:
            continue
        for back in range(i - 1, max(-1, i - 8), -1):
            if re.search(r"\bif\s*\(", lines[back]):
                cond = lines[back]
                for pat, verb in SYSCALL_VERB:
                    if pat.search(cond) and verb != m.group(1):
                        yield i + 1, "could not %s after %s" % (m.group(1), pat.search(cond).group(0).rstrip("( "))
                break

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
    syscalls = []
    notes = []
    for f in sorted(glob.glob(os.path.join(TOP, "src", "*.c"))):
        rel = os.path.relpath(f, TOP)
        if rel in EXEMPT:
            notes.append("# %s not checked: %s" % (rel, EXEMPT[rel]))
            continue
        parts += [(rel,) + p for p in c_parts(f)]
        syscalls += ["%s:%d: %s" % (rel, line, what) for line, what in syscall_mismatches(f)]
        if os.path.basename(f) in PURE_C_PARSERS:
            parts += [(rel,) + p for p in reason_parts(f)]
    for f in sorted(glob.glob(os.path.join(TOP, "sql", "install", "*.sql"))):
        parts += [(os.path.relpath(f, TOP),) + p for p in sql_parts(f)]
    rules = {
        "primary messages start in lower case and have no trailing period": [],
        "details and hints are sentences: a capital first, a period last": [],
        "message parts are string literals, no spliced format macros": [],
        "acronyms as written (URL, IPv6, ASCII)": [],
        "one wording: must not be NULL": [],
        "no module prefix on messages": [],
        "one wording per not-found condition (registry %lld of group %lld does not exist)": [],
        "a failed system call is named for what failed (could not stat / open / read)": syscalls,
    }
    names = list(rules)
    for f, line, kind, lit, spliced in parts:
        where = "%s:%d" % (f, line)
        bad_splice = [s for s in spliced if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", s)]
        if lit is None or bad_splice or lit == "%s":
            rules[names[2]].append("%s: %s" % (where, " ".join(bad_splice) or ("no literal" if lit is None else "only %s")))
            if lit is None:
                continue
        if kind == "elog":
            # internal errors: only the prefix and splicing rules apply
            if lit.lower().startswith("containers_vreg:"):
                rules[names[5]].append("%s: %s" % (where, lit))
            continue
        if kind in ("msg", "reason"):
            if (lit[:1].isupper() and not ACRONYM.match(lit)) or (lit.endswith(".") and not lit.endswith("...")):
                rules[names[0]].append("%s: %s" % (where, lit))
        else:
            first = lit[:1]
            if (not lit.rstrip().endswith((".", ".)")) or (first.islower() and not ACRONYM.match(lit))
                    or LABEL_ONLY.match(lit)):
                rules[names[1]].append("%s: %s" % (where, lit))
        if LOWER_ACRONYMS.search(lit):
            rules[names[3]].append("%s: %s" % (where, lit))
        if "must not be null" in lit:
            rules[names[4]].append("%s: %s" % (where, lit))
        if lit.lower().startswith("containers_vreg:"):
            rules[names[5]].append("%s: %s" % (where, lit))
        if kind == "msg" and NOT_FOUND_SUBJECT.match(lit) and "exist" in lit:
            if not (NOT_FOUND_SQL if f.endswith(".sql") else NOT_FOUND_C).match(lit):
                rules[names[6]].append("%s: %s" % (where, lit))
    n = fails = 0
    print("# %d message parts checked" % len(parts))
    for note in notes:
        print(note)
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
