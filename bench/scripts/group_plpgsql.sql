-- Case 6: group sessions, through the PL/pgSQL twin (bench/sql/helpers.sql).
-- Every client tries the same slots of capacity 10 in the same order (:first + :n), so each slot's ten seats are raced for by
-- all clients at once; ten win, the others are refused (bench.try_book
-- catches the refusal, pgbench would abort the client).
\set s :first + :n
\set n :n + 1
SELECT bench.try_book('plpgsql', :s::integer);
