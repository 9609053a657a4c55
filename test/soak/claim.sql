-- the destruction worker: claim a batch, "delete the objects", finish each
SELECT count(containers_vreg.finish_destruction(c.group_id, c.entry_id))
  FROM containers_vreg.claim_for_destruction(10) c;
