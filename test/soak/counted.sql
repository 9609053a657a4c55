-- downloads of the one counted entry (group 1000): checked exactly after the run
SELECT containers_vreg.record_download(1000, :counted);
