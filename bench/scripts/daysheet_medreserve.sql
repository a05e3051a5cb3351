-- Case 6: the front desk's day sheet of one random doctor among all, through
-- medreserve_appointments() (index-driven: one range scan of one doctor's day).
\set d random(:dmin, :dmax)
SELECT count(*) FROM medreserve_appointments(:from::timestamptz, :from::timestamptz + interval '1 day', :d::integer);
