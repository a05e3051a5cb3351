-- Case 2: every client tries the same slots in the same order (:first + :n),
-- so each slot is raced for by all clients at once; one wins, the others are
-- refused.  bench.try_book catches the refusal (pgbench would abort the client).
\set s :first + :n
\set n :n + 1
SELECT bench.try_book('plpgsql', :s::integer);
