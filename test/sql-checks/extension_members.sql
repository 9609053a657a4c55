-- The definition of every member of extension containers_vreg, one line per
-- object, sorted: what test/scripts/upgrade.sh compares between a fresh
-- install of the current version and an older version plus ALTER EXTENSION
-- UPDATE. (pg_dump --schema-only prints only CREATE EXTENSION for members,
-- so it cannot tell the two apart.)
\pset format unaligned
\pset tuples_only on
\pset fieldsep ' | '
WITH ext AS (
  SELECT oid, extconfig, extcondition FROM pg_catalog.pg_extension WHERE extname = 'containers_vreg'
), m AS (
  SELECT d.classid, d.objid
    FROM pg_catalog.pg_depend d, ext
   WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
     AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (
  SELECT c.oid FROM m JOIN pg_catalog.pg_class c
    ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = m.objid
), lines AS (
  SELECT 'schema' AS kind, n.nspname::text AS name,
         concat_ws(' ', n.nspacl::text, pg_catalog.obj_description(n.oid, 'pg_namespace')) AS def
    FROM pg_catalog.pg_namespace n WHERE n.nspname = 'containers_vreg'
  UNION ALL
  SELECT 'function', p.oid::pg_catalog.regprocedure::text,
         concat_ws(' ', pg_catalog.pg_get_functiondef(p.oid), 'ACL', p.proacl::text,
                   'COMMENT', pg_catalog.obj_description(p.oid, 'pg_proc'))
    FROM m JOIN pg_catalog.pg_proc p
      ON m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = m.objid
  UNION ALL
  SELECT 'relation', c.oid::pg_catalog.regclass::text,
         concat_ws(' ', c.relkind, c.relpersistence, c.relacl::text, c.reloptions::text,
                   pg_catalog.pg_get_expr(c.relpartbound, c.oid),
                   CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
                   'COMMENT', pg_catalog.obj_description(c.oid, 'pg_class'))
    FROM rels JOIN pg_catalog.pg_class c ON c.oid = rels.oid
  UNION ALL
  SELECT 'column', a.attrelid::pg_catalog.regclass::text || '.' || a.attname,
         concat_ws(' ', 'ordinal', pg_catalog.row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
                   pg_catalog.format_type(a.atttypid, a.atttypmod),
                   CASE WHEN a.attcollation <> 0 THEN 'COLLATE ' || a.attcollation::pg_catalog.regcollation::text END,
                   CASE WHEN a.attnotnull THEN 'NOT NULL' END,
                   'DEFAULT', pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
                   a.attidentity, a.attgenerated, a.attacl::text,
                   'COMMENT', pg_catalog.col_description(a.attrelid, a.attnum))
    FROM rels JOIN pg_catalog.pg_attribute a ON a.attrelid = rels.oid
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'constraint', co.conrelid::pg_catalog.regclass::text || '.' || co.conname,
         concat_ws(' ', pg_catalog.pg_get_constraintdef(co.oid),
                   CASE WHEN co.condeferrable THEN 'DEFERRABLE' END,
                   CASE WHEN co.condeferred THEN 'INITIALLY DEFERRED' END, co.convalidated)
    FROM rels JOIN pg_catalog.pg_constraint co ON co.conrelid = rels.oid
  UNION ALL
  SELECT 'index', i.indexrelid::pg_catalog.regclass::text,
         pg_catalog.pg_get_indexdef(i.indexrelid)
    FROM rels JOIN pg_catalog.pg_index i ON i.indrelid = rels.oid
  UNION ALL
  SELECT 'trigger', t.tgrelid::pg_catalog.regclass::text || '.' || t.tgname,
         concat_ws(' ', pg_catalog.pg_get_triggerdef(t.oid), 'ENABLED', t.tgenabled)
    FROM rels JOIN pg_catalog.pg_trigger t ON t.tgrelid = rels.oid
   WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'sequence', s.seqrelid::pg_catalog.regclass::text,
         concat_ws(' ', pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                   s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
    FROM rels JOIN pg_catalog.pg_sequence s ON s.seqrelid = rels.oid
  UNION ALL
  SELECT 'type', ty.oid::pg_catalog.regtype::text, ty.typtype::text
    FROM m JOIN pg_catalog.pg_type ty
      ON m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ty.oid = m.objid
  UNION ALL
  SELECT 'other member', m.classid::pg_catalog.regclass::text,
         pg_catalog.pg_describe_object(m.classid, m.objid, 0)
    FROM m
   WHERE m.classid NOT IN ('pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_class'::pg_catalog.regclass,
                           'pg_catalog.pg_type'::pg_catalog.regclass)
  UNION ALL
  SELECT 'dumped config', cfg.rel::pg_catalog.regclass::text, coalesce(cfg.cond, '')
    FROM ext, LATERAL unnest(ext.extconfig, ext.extcondition) AS cfg(rel, cond)
)
SELECT kind, name, def FROM lines ORDER BY kind, name, def;
