-- Case 7, diagnostic: the floor of a group booking (bench.try_book 'floor':
-- the slot's counter under its row lock and the bare inserts, one
-- statement).  Every client tries the same slots of capacity 10 in the same
-- order, as group_medreserve.sql does.
\set s :first + :n
\set n :n + 1
SELECT bench.try_book('floor', :s::integer);
