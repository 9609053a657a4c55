-- The same plaintext sealed with pgcrypto's pgp_sym_encrypt, read from a row.
SELECT pgp_sym_decrypt(c, 'bench-passphrase') FROM vreg_bench.pgp WHERE id = 1;
