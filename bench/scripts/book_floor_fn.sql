-- Case 1, diagnostic: the 1.2 floor's writes (book_floor_state.sql) inside a
-- SECURITY DEFINER function that returns the booking row, called as
-- medreserve_book() is: the cost of the function boundary alone.
\set s :first + :client_id * :stride + :n
\set n :n + 1
SELECT id FROM bench.floor_fn(:s::integer, 'Bench Patient');
