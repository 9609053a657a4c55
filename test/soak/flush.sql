-- the periodic job folding the download buffer into the entries
SELECT containers_vreg.flush_downloads();
