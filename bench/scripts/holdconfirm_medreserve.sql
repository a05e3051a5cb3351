-- Case 3: hold, then confirm: two calls (two transactions) per booking.
\set s :first + :client_id * :stride + :n
\set n :n + 1
SELECT id AS booking_id FROM medreserve_hold(:s::integer, 'Bench Patient') \gset
SELECT id FROM medreserve_confirm(:booking_id::integer);
