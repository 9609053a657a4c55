-- Open one upstream's sealed credentials (libsodium XChaCha20-Poly1305).
SELECT containers_vreg.upstream_credentials(1, 1);
