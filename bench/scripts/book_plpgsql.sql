-- Case 1: the same contract as medreserve_book() written in PL/pgSQL (bench/sql/helpers.sql).
\set s :first + :client_id * :stride + :n
\set n :n + 1
SELECT id FROM bench.plpgsql_reserve(ARRAY[:s::integer], 'Bench Patient', NULL, false);
