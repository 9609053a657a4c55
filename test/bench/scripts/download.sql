-- record_download(): :spread = 0 puts every client on entry :eid (one hot
-- blob), :spread = 1 gives each client its own entry.
\set e :eid + :spread * :client_id
SELECT containers_vreg.record_download(1, :e);
