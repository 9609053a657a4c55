#!/usr/bin/python3
"""Report C functions longer than a limit (default 100 lines).

A function is counted from the line of its name to the line of its closing
brace. The scanner is a brace-depth scanner over src/*.c with comments,
string and character literals and preprocessor lines blanked out: a '{' at
depth 0 whose preceding code ends in ')' (a parameter list) opens a function
body; anything else at depth 0 (an initializer, a struct) does not count.

Prints one TAP line and, with --list, every function and its length,
longest first. Exit status 1 when a function is over the limit.

Usage: func_length.py [--max N] [--list] [--no-exempt] [files...]
"""
import glob
import os
import re
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Files whose functions are not checked, with the reason (printed).
EXEMPT = {
}


def blank(text):
    """Text with comments, literals and preprocessor lines replaced by spaces
    (newlines kept, so line numbers stay right)."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#" :
            # a preprocessor line, with its continuations
            j = i
            while j < n and not (text[j] == "\n" and text[j - 1] != "\\"):
                j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
            continue
        if c == "\n":
            at_line_start = True
        elif not c.isspace():
            at_line_start = False
        out.append(c)
        i += 1
    return "".join(out)


def functions(path):
    """(name, first line, last line) of every function defined in path."""
    code = blank(open(path, encoding="utf-8").read())
    depth = 0
    result = []
    start = None
    name = None
    for m in re.finditer(r"[{}]", code):
        if m.group(0) == "{":
            if depth == 0:
                before = code[:m.start()].rstrip()
                if before.endswith(")"):
                    # walk back over the parameter list to the name
                    k, par = len(before) - 1, 0
                    while k >= 0:
                        if before[k] == ")":
                            par += 1
                        elif before[k] == "(":
                            par -= 1
                            if par == 0:
                                break
                        k -= 1
                    nm = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", before[:k])
                    name = nm.group(1) if nm else "?"
                    start = code.count("\n", 0, nm.start() if nm else m.start()) + 1
                else:
                    name = None
            depth += 1
        else:
            depth -= 1
            if depth == 0 and name is not None:
                result.append((name, start, code.count("\n", 0, m.start()) + 1))
                name = None
    return result


def main(argv):
    limit = 100
    listing = False
    files = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--max":
            limit = int(args.pop(0))
        elif a == "--list":
            listing = True
        elif a == "--no-exempt":
            EXEMPT.clear()
        else:
            files.append(a)
    if not files:
        files = sorted(glob.glob(os.path.join(TOP, "src", "*.c")))
    found = []
    for f in files:
        rel = os.path.relpath(os.path.abspath(f), TOP)
        if rel in EXEMPT:
            print("# %s not checked: %s" % (rel, EXEMPT[rel]))
            continue
        for name, first, last in functions(f):
            found.append((last - first + 1, rel, first, name))
    found.sort(reverse=True)
    over = [x for x in found if x[0] > limit]
    print("# %d functions checked; the longest: %s" %
          (len(found), ", ".join("%s() %d lines" % (x[3], x[0]) for x in found[:3])))
    if listing:
        for length, rel, first, name in found:
            print("#   %4d  %s:%d %s()" % (length, rel, first, name))
    if over:
        print("not ok 1 - no C function is longer than %d lines" % limit)
        for length, rel, first, name in over:
            print("#   %s:%d: %s() is %d lines" % (rel, first, name, length))
        return 1
    print("ok 1 - no C function is longer than %d lines" % limit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
