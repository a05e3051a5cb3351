-- Case 5: one week of free slots of a random doctor, through medreserve_available_slots().
\set d random(:dmin, :dmax)
SELECT * FROM medreserve_available_slots(:d::integer, :from::timestamptz, :until::timestamptz);
