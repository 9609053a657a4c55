#!/usr/bin/env bash
# make installcheck: can the credentials tests run on the server of
# PGHOST/PGPORT/PGUSER? They need containers_vreg.keyring_file to name a
# keyring with exactly the keys 1 and 2 (everything is sealed under key 2).
# Prints nothing when they can, otherwise why not (one line).
#
#   scripts/installcheck_keyring.sh [PSQL]
psql=${1:-psql}
out=$("$psql" -X -q -At -d postgres -v ON_ERROR_STOP=1 2>&1 <<'SQL'
LOAD 'containers_vreg';
SELECT CASE WHEN current_setting('containers_vreg.keyring_file') = '' THEN 'none'
            ELSE coalesce((SELECT string_agg(k, ',' ORDER BY k::bigint)
                             FROM (SELECT (regexp_match(l, '^\s*([0-9]+)\s'))[1] AS k
                                     FROM regexp_split_to_table(pg_read_file(current_setting('containers_vreg.keyring_file')), E'\n') AS l) s
                            WHERE k IS NOT NULL), 'empty') END;
SQL
)
case $out in
  1,2) ;;
  none) echo "the server has no containers_vreg.keyring_file; they need one with keys 1 and 2" ;;
  empty) echo "the server's keyring has no keys; they need keys 1 and 2" ;;
  [0-9]*) echo "the server's keyring has keys $out; they need exactly 1 and 2" ;;
  *) echo "cannot read the server's keyring setting: $(echo "$out" | head -1 | sed -e 's/^psql: error: //' -e 's/^psql:[^ ]* \(ERROR\|FATAL\): *//')" ;;
esac
