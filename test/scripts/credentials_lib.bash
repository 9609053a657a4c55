# Helpers for the credentials tests (sourced; not a test itself).
# Keyring files: pgc_write_keyring FILE ID... writes fresh random keys for the
# given ids; pgc_write_keyring_text FILE TEXT writes given text. Both replace
# the file atomically (new inode), owned by the server's OS user, mode 0600.

pgc_keyring_line() {  # $1: key id -> "<id> <64 random hex digits>"
  echo "$1 $(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
}

pgc_write_keyring_text() {  # $1: file, $2: text
  local file=$1 tmp="$1.tmp.$$"
  ( umask 077; printf '%s\n' "$2" > "$tmp" )
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$tmp"; fi
  chmod 600 "$tmp"
  mv -f "$tmp" "$file"
}

pgc_write_keyring() {  # $1: file, then key ids
  local file=$1; shift
  local text="# throwaway test keyring" id
  for id in "$@"; do text="$text"$'\n'"$(pgc_keyring_line "$id")"; done
  pgc_write_keyring_text "$file" "$text"
}

# TAP-style checks
tap_n=0
tap_ok()   { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1"; }
tap_fail() { tap_n=$((tap_n + 1)); echo "not ok $tap_n - $1"; [ -n "${2:-}" ] && echo "#   got: $2"; return 0; }
expect_eq() {     # desc got want
  if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1" "$2 (want $3)"; fi
}
expect_match() {  # desc got extended-regex
  if printf '%s' "$2" | grep -Eq -- "$3"; then tap_ok "$1"; else tap_fail "$1" "$2 (want /$3/)"; fi
}
expect_nomatch() { # desc got fixed-string
  if printf '%s' "$2" | grep -Fq -- "$3"; then tap_fail "$1" "contains it"; else tap_ok "$1"; fi
}

# q DB SQL: one value (or rows), fails loudly; qerr DB SQL: "SQLSTATE: message" or "ok"
q() { "$PGC_BINDIR/psql" -X -At -q -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
qerr() {
  local out
  if out=$("$PGC_BINDIR/psql" -X -At -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -c "$2" 2>&1); then
    echo ok
  else
    printf '%s\n' "$out" | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): /\1: /p' | head -1
  fi
}
