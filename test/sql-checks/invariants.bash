# Sourced by test/scripts/crash_recovery.sh and test/soak/run.sh.
#   vreg_invariants DB    runs test/sql-checks/invariants.sql against DB and
#                         prints one TAP line per invariant (uses tap_ok /
#                         tap_fail from test/scripts/credentials_lib.bash);
#                         returns 1 when any invariant is broken or the
#                         check itself fails.
vreg_invariants() {
  local db=$1 out line name bad rc=0 n=0
  if ! out=$("$PGC_BINDIR/psql" -X -At -q -d "$db" -f "$TOP/test/sql-checks/invariants.sql" 2>&1); then
    tap_fail "invariant check ran" "$(echo "$out" | tail -3)"; return 1
  fi
  while IFS= read -r line; do
    case $line in *'|'*) ;; *) echo "# $line"; continue ;; esac
    name=${line%|*}; bad=${line##*|}; n=$((n + 1))
    if [ "$bad" = 0 ]; then tap_ok "invariant: $name"; else tap_fail "invariant: $name" "$bad violations"; rc=1; fi
  done <<<"$out"
  [ "$n" -eq 8 ] || { tap_fail "all 8 invariants reported" "$n"; rc=1; }
  return $rc
}
