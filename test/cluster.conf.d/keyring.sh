# Sourced by test/run_all.sh after initdb, before the test cluster starts:
# a throwaway keyring (keys 1 and 2, so the regression tests can see that the
# highest id seals) readable only by the server's OS user, named by
# containers_vreg.keyring_file. Tests that change keys start their own cluster
# (test/scripts/credentials_rotation.sh), so this keyring stays stable.
. "${TOP:-.}/test/scripts/credentials_lib.bash"
pgc_write_keyring "$PGC_DIR/keyring" 1 2
pgc_conf "containers_vreg.keyring_file = '$PGC_DIR/keyring'"
