-- containers_vreg 0.1.0 -> 0.2.0 (hardening release).
-- Every change to sql/install/ since 0.1.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.1.0 + this script defines every extension member exactly as a
-- fresh 0.2.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.2.0'" to load this file. \quit
