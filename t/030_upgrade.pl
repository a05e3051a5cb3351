# Upgrade chain: install the oldest version with data in it, ALTER EXTENSION
# medreserve UPDATE, and check that the schema equals a fresh install (the
# catalog descriptions are equal) and the data is what was there.  A fresh
# install runs the same script chain, so this guards against upgrade steps
# that behave differently on a database with data, and against a future
# full-version script drifting from the chain.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $oldest = '1.0';
my ($latest) = slurp_file("$FindBin::RealBin/../medreserve.control") =~ /^default_version = '(.*)'/m;
my $node = medreserve_node('upgrade', extension => 0);
$node->safe_psql('postgres', 'CREATE DATABASE upgraded; CREATE DATABASE fresh');

# Everything the extension owns, described without OIDs.
my $catalog_description = q{
    WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'medreserve'),
    members AS (
        SELECT d.classid, d.objid FROM pg_depend d, ext
        WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
    SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
           || E'\nacl ' || coalesce(p.proacl::text, '') || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
      FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid AND c.relnamespace = 'medreserve'::regnamespace AND c.relkind = 'r'
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'medreserve'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid AND c.relnamespace = 'medreserve'::regnamespace
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid AND c.relnamespace = 'medreserve'::regnamespace
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' ' || coalesce(qual, '')
      FROM pg_policies WHERE schemaname = 'medreserve'
    UNION ALL
    SELECT 'table ' || c.oid::regclass || ' acl=' || coalesce(c.relacl::text, '') || ' rls=' || c.relrowsecurity
           || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
      FROM pg_class c WHERE c.relnamespace = 'medreserve'::regnamespace AND c.relkind IN ('r', 'S')
    UNION ALL
    SELECT 'config ' || unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'medreserve'
    ORDER BY 1};
my $table_contents = q{
    SELECT string_agg(t, E'\n' ORDER BY t) FROM (
        -- the columns the tables had in 1.0 (1.2 adds more; bookings' are checked below)
        SELECT 'doctor ' || (d.id, d.name, d.specialization, d.created_at)::text AS t
          FROM medreserve.doctors d
        UNION ALL SELECT 'slot ' || (s.id, s.doctor_id, s.start_time, s.duration_minutes, s.created_at)::text
                    FROM medreserve.slots s
        UNION ALL SELECT 'booking ' || (b.id, b.slot_id, b.patient_name, b.patient_email, b.status,
                                        b.expires_at, b.created_at, b.updated_at)::text
                    FROM medreserve.bookings b
        UNION ALL SELECT 'booking_slot ' || (bs.id, bs.booking_id, bs.slot_id, bs.created_at)::text
                    FROM medreserve.booking_slots bs) x};
my $version = q{SELECT extversion FROM pg_extension WHERE extname = 'medreserve'};

$node->safe_psql('upgraded', qq{
	SET client_min_messages = warning;
	CREATE EXTENSION medreserve VERSION '$oldest' CASCADE;
	-- The rows a $oldest installation holds, written directly: its SQL functions
	-- would run this tree's library, which needs the new version's objects.
	INSERT INTO medreserve.doctors (name, specialization) VALUES ('Dr Ada Grey', 'cardiology');
	INSERT INTO medreserve.slots (doctor_id, start_time)
	SELECT 1, date_trunc('day', now()) + interval '1 day 9 hours' + i * interval '15 minutes'
	  FROM generate_series(0, 8) i;
	INSERT INTO medreserve.bookings (slot_id, patient_name, patient_email, status, expires_at) VALUES
	    (1, 'Ann Lee', 'ann\@example.org', 'CONFIRMED', NULL),
	    (2, 'Bob Marsh', NULL, 'PENDING', now() + interval '10 minutes'),
	    (4, 'Cy Park', NULL, 'FAILED', now() - interval '1 minute'),
	    (5, 'Dee Holt', NULL, 'CONFIRMED', NULL),
	    (4, 'Gil Sun', NULL, 'CANCELLED', NULL),
	    (6, 'Eve Stone', NULL, 'PENDING', now() + interval '10 minutes');
	INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES (1, 1), (2, 2), (2, 3), (4, 5), (6, 6);});

# Between installing the new library and ALTER EXTENSION UPDATE, the old
# version's functions run the new C code, which needs the new version's
# columns and functions (CHANGELOG: update right after installing the
# library).  What a 1.0 database answers meanwhile is recorded, not judged.
for my $call (q{medreserve_book(7, 'Before Update')}, 'medreserve_cancel(1)', 'medreserve_expire()')
{
	note "before the update, ${oldest}'s $call: "
	  . (sql_error($node, 'upgraded', "BEGIN;\nSELECT $call;\nROLLBACK;") || 'works');
}
my $before = $node->safe_psql('upgraded', $table_contents);
is($node->safe_psql('upgraded', $version), $oldest, "installed version $oldest");
$node->safe_psql('upgraded', 'SET client_min_messages = warning; ALTER EXTENSION medreserve UPDATE');
is($node->safe_psql('upgraded', $version), $latest, "updated to $latest");
is($node->safe_psql('upgraded', $table_contents), $before, 'the data is what was there');
# 1.2 (issue 13): every booking got its doctor and span from its slots
is($node->safe_psql('upgraded', q{
	SELECT b.id, b.doctor_id,
	       b.starts_at - (date_trunc('day', now()) + interval '1 day'),
	       b.ends_at - (date_trunc('day', now()) + interval '1 day'),
	       b.cancelled_at = b.updated_at
	  FROM medreserve.bookings b ORDER BY b.id}),
	"1|1|09:00:00|09:15:00|\n2|1|09:15:00|09:45:00|\n3|1|09:45:00|10:00:00|\n"
	  . "4|1|10:00:00|10:15:00|\n5|1|09:45:00|10:00:00|t\n6|1|10:15:00|10:30:00|",
	'bookings made before 1.2 say when and with whom (slots from 09:00 tomorrow)');
invariants_hold($node, 'upgraded', 'after the update');

$node->safe_psql('fresh', 'SET client_min_messages = warning; CREATE EXTENSION medreserve CASCADE');
my $fresh = $node->safe_psql('fresh', $catalog_description);
is($node->safe_psql('upgraded', $catalog_description), $fresh,
	"the updated schema equals a fresh install of $latest");
cmp_ok(scalar(split /\n/, $fresh), '>', 50, 'the catalog description is not empty');

# the updated database keeps working, ids continue
is($node->safe_psql('upgraded', q{SELECT id, status FROM medreserve_book(7, 'Fay Lin')}),
	'7|CONFIRMED', 'booking after the update continues the ids');
is($node->safe_psql('upgraded', qq{
	SELECT string_agg(source || '--' || target, ',' ORDER BY target) FROM pg_extension_update_paths('medreserve')
	 WHERE source = '$oldest' AND path IS NOT NULL}),
	"$oldest--1.1,$oldest--$latest", "the update paths from $oldest");
done_testing();
