-- bench/wrapper.sh: one week of a random doctor through bench.av_no_set() (bench/sql/wrapper.sql).
\set d random(:dmin, :dmax)
SELECT * FROM bench.av_no_set(:d::integer, :from::timestamptz, :until::timestamptz);
