-- Case 7, diagnostic: the floor of a group booking under medreserve's
-- contract (bench.try_book 'floor_locked'): the slot's row lock first, so a
-- booker that finds the slot full waits for whoever is changing it, as
-- medreserve_book() does; then the counter and the bare inserts, one
-- statement.  Every client tries the same slots of capacity 10 in the same
-- order, as group_medreserve.sql does.
\set s :first + :n
\set n :n + 1
SELECT bench.try_book('floor_locked', :s::integer);
