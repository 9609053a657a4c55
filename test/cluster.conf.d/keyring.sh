# Sourced by test/run_all.sh after initdb, before the test cluster starts:
# a throwaway keyring (keys 1 and 2, so the regression tests can see that the
# highest id seals) readable only by the server's OS user, named by
# containers_vreg.keyring_file. Tests that change keys start their own cluster.
pgc_keyring_line() {  # $1: key id -> "<id> <64 random hex digits>"
  echo "$1 $(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
}
pgc_write_keyring() {  # $1: file, then key ids; replaces the file atomically
  local file=$1; shift
  local tmp="$file.tmp.$$"
  ( umask 077; { echo "# throwaway test keyring"; for id in "$@"; do pgc_keyring_line "$id"; done; } > "$tmp" )
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$tmp"; fi
  chmod 600 "$tmp"
  mv -f "$tmp" "$file"
}
pgc_write_keyring "$PGC_DIR/keyring" 1 2
pgc_conf "containers_vreg.keyring_file = '$PGC_DIR/keyring'"
