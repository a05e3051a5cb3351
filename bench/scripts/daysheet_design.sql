-- Case 6 (diagnostic): the same day sheet as a plain query on the tables,
-- without the function's checks and its listing row.
\set d random(:dmin, :dmax)
SELECT count(*) FROM (
    SELECT b.*, d.name FROM medreserve.bookings b JOIN medreserve.doctors d ON d.id = b.doctor_id
     WHERE b.doctor_id = :d::integer
       AND b.starts_at >= :from::timestamptz AND b.starts_at < :from::timestamptz + interval '1 day'
     ORDER BY b.starts_at, b.id) AS sheet;
