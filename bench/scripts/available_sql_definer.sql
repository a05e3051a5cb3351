-- bench/wrapper.sh: one week of a random doctor through bench.av_sql_definer() (bench/sql/wrapper.sql).
\set d random(:dmin, :dmax)
SELECT * FROM bench.av_sql_definer(:d::integer, :from::timestamptz, :until::timestamptz);
