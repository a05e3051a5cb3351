-- bench/wrapper.sh: one week of a random doctor through bench.av_inlined() (bench/sql/wrapper.sql).
\set d random(:dmin, :dmax)
SELECT * FROM bench.av_inlined(:d::integer, :from::timestamptz, :until::timestamptz);
