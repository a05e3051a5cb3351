-- Case 3: hold, then confirm, through the PL/pgSQL functions of the same contract.
\set s :first + :client_id * :stride + :n
\set n :n + 1
SELECT id AS booking_id FROM bench.plpgsql_reserve(ARRAY[:s::integer], 'Bench Patient', NULL, true) \gset
SELECT id FROM bench.plpgsql_confirm(:booking_id::integer);
