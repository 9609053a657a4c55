#!/usr/bin/env bash
# Every function of the extension has a COMMENT ON FUNCTION and is named in the
# README; every public one (not a trigger, not internal) has an example there.
set -uo pipefail
: "${PGC_BINDIR:?run from test/run_all.sh}"
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
DB=vreg_docs
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION containers_vreg" >/dev/null
funcs=$("${PSQL[@]}" -d "$DB" -c "
  SELECT p.proname || ' ' || (pg_catalog.obj_description(p.oid, 'pg_proc') IS NOT NULL)
         || ' ' || (p.prorettype = 'trigger'::regtype OR NOT has_function_privilege('public', p.oid, 'EXECUTE') AND p.proname ~ '^(lifecycle_check_|check_stored_object$|end_destruction|limits$)')
    FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'containers_vreg' ORDER BY 1")
"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB" >/dev/null
n=0 nocomment="" noreadme="" noexample=""
while read -r name commented internal; do
  n=$((n + 1))
  [ "$commented" = true ] || nocomment+=" $name"
  grep -q "$name" "$TOP/README.md" || noreadme+=" $name"
  if [ "$internal" = false ] && ! grep -Eq "(SELECT|FROM) [^\`]*containers_vreg\.$name\(" "$TOP/README.md"; then
    noexample+=" $name"
  fi
done <<<"$funcs"
fail=0
if [ -z "$nocomment" ]; then echo "ok 1 - all $n functions have a COMMENT ON FUNCTION"; else echo "not ok 1 - no COMMENT:$nocomment"; fail=1; fi
if [ -z "$noreadme" ]; then echo "ok 2 - all $n functions are named in the README"; else echo "not ok 2 - not in the README:$noreadme"; fail=1; fi
if [ -z "$noexample" ]; then echo "ok 3 - every public function has an example call in the README"; else echo "not ok 3 - no example:$noexample"; fail=1; fi
exit $fail
