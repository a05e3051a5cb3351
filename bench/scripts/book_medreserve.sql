-- Case 1: book one slot with medreserve_book() (one statement, one round trip).
-- Each client walks its own slot range: :first + :client_id * :stride + :n.
\set s :first + :client_id * :stride + :n
\set n :n + 1
SELECT id FROM medreserve_book(:s::integer, 'Bench Patient');
