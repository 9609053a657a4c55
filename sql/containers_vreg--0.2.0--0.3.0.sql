-- containers_vreg 0.2.0 -> 0.3.0 (security and correctness release).
-- Every change to sql/install/ since 0.2.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.2.0 (and 0.1.0) plus the update scripts define every extension
-- member exactly as a fresh 0.3.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.3.0'" to load this file. \quit
