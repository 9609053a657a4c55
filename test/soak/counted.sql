-- downloads of the one counted entry (group 1000), each with a ledger row
-- in the same transaction: checked exactly after the run
BEGIN;
SELECT containers_vreg.record_download(1000, :counted);
INSERT INTO public.soak_ledger VALUES (1);
COMMIT;
