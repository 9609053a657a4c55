#!/usr/bin/env bash
# Static checks of the sources, no cluster needed: PostgreSQL's error message
# style (test/lint/message_style.py), the length of C functions
# (test/lint/func_length.py), no citation of documents outside the repository
# in code (test/lint/citations.py), and the generated block of the update script being current
# (scripts/update_tail.py --check), and every test that writes credentials
# being in the Makefile's KEYRING_REGRESS (test/lint/keyring_tests.py). One
# TAP stream, numbered across them.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
rc=0
out=$(
  "$PY" "$TOP/test/lint/message_style.py" || echo "__failed__"
  "$PY" "$TOP/test/lint/func_length.py" || echo "__failed__"
  "$PY" "$TOP/scripts/update_tail.py" --check || echo "__failed__"
  "$PY" "$TOP/test/lint/citations.py" || echo "__failed__"
  "$PY" "$TOP/test/lint/keyring_tests.py" || echo "__failed__"
)
grep -q '^__failed__$' <<<"$out" && rc=1
grep -v '^__failed__$' <<<"$out" | awk '
  /^(not )?ok [0-9]+/ { n++; sub(/^(not )?ok [0-9]+/, ($1 == "not" ? "not ok " : "ok ") n) }
  { print }
  END { print "1.." n }'
exit $rc
