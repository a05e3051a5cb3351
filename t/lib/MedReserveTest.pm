# MedReserveTest: what the TAP tests (t/*.pl) share.
#
#   use FindBin; use lib "$FindBin::RealBin/lib"; use MedReserveTest;
#   my $node = medreserve_node('main', pg_cron => 1);
#   ... the test ...
#   invariants_hold($node, 'postgres', 'after the race');
#
# invariants_hold() and medreserve_node() are used by every test; the other
# helpers below are what several of the cluster tests share.
#
# Nodes are PostgreSQL::Test::Cluster servers of the installation on PATH
# (make installcheck puts the server's bindir first), with medreserve
# preloaded, the time zone UTC and the extension created.
package MedReserveTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(medreserve_node invariants_hold table_rules_hold btree_indexes_hold
  sql_error sql_answer rows_ok);

# medreserve_node(NAME, OPTIONS): a started node.  Options:
#   pg_cron => 1        preload pg_cron too; cron.database_name is cron_db
#   cron_db => NAME     (default: dbname)
#   dbname  => NAME     database to create the extension in (default postgres)
#   conf    => TEXT     more postgresql.conf lines
#   preload => 0        do not preload medreserve (the library is then loaded
#                       on first use and has no counters)
#   extension => 0      do not create the extension
#   init    => {...}    options for PostgreSQL::Test::Cluster::init
sub medreserve_node
{
	my ($name, %opt) = @_;
	my $dbname = $opt{dbname} // 'postgres';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opt{init} // {} });

	my @preload;
	push @preload, 'medreserve' if $opt{preload} // 1;
	push @preload, 'pg_cron' if $opt{pg_cron};
	my $conf = "timezone = 'UTC'\n";
	$conf .= "shared_preload_libraries = '" . join(',', @preload) . "'\n" if @preload;
	if ($opt{pg_cron})
	{
		$conf .= "cron.database_name = '" . ($opt{cron_db} // $dbname) . "'\n";
		$conf .= "cron.use_background_workers = on\nmax_worker_processes = 16\n";
	}
	$conf .= $opt{conf} if defined $opt{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;

	$node->safe_psql('postgres', qq{CREATE DATABASE "$dbname"}) if $dbname ne 'postgres';
	$node->safe_psql($dbname, 'CREATE EXTENSION medreserve CASCADE')
	  if $opt{extension} // 1;
	return $node;
}

# invariants_hold(NODE, DBNAME, WHAT): one test that medreserve_verify(),
# the one statement of the tables' invariants, finds no problem.
sub invariants_hold
{
	my ($node, $dbname, $what) = @_;
	my $problems = $node->safe_psql($dbname,
		q{SELECT string_agg(format('%s (booking %s, slot %s)', problem, booking_id, slot_id), '; ')
		    FROM medreserve_verify()});
	is($problems, '', "invariants hold $what");
}

# table_rules_hold(NODE, DBNAME, WHAT): the rules of the tables that the old
# bash harness checked and medreserve_verify() does not (yet) state: one
# test per rule.  The live booking is medreserve.booking_is_live(), as
# everywhere.
sub table_rules_hold
{
	my ($node, $dbname, $what) = @_;
	rows_ok($node, $dbname, $what, q{
	WITH live AS (
	    SELECT b.* FROM medreserve.bookings b
	     WHERE medreserve.booking_is_live(b.status, b.expires_at)),
	covers AS (
	    SELECT id AS booking_id, slot_id FROM live
	    UNION
	    SELECT bs.booking_id, bs.slot_id FROM medreserve.booking_slots bs JOIN live ON live.id = bs.booking_id)
	SELECT 'no slot has two live bookings',
	       (SELECT string_agg('slot ' || slot_id || ': bookings ' || ids, ', ')
	          FROM (SELECT slot_id, string_agg(booking_id::text, ' ' ORDER BY booking_id) AS ids
	                  FROM covers GROUP BY slot_id HAVING count(DISTINCT booking_id) > 1) d)
	UNION ALL
	SELECT 'every booking''s slot_id is among its booking_slots rows',
	       (SELECT string_agg('booking ' || b.id, ', ')
	          FROM medreserve.bookings b
	         WHERE EXISTS (SELECT FROM medreserve.booking_slots bs WHERE bs.booking_id = b.id)
	           AND NOT EXISTS (SELECT FROM medreserve.booking_slots bs
	                            WHERE bs.booking_id = b.id AND bs.slot_id = b.slot_id))
	UNION ALL
	SELECT 'CONFIRMED bookings have no expiry, PENDING ones have one',
	       (SELECT string_agg('booking ' || id || ' (' || status || ')', ', ')
	          FROM medreserve.bookings
	         WHERE (status = 'CONFIRMED' AND expires_at IS NOT NULL)
	            OR (status = 'PENDING' AND expires_at IS NULL))
	});
}

# btree_indexes_hold(NODE, DBNAME, WHAT): amcheck (contrib) finds every btree
# index of the medreserve tables consistent with its heap.
sub btree_indexes_hold
{
	my ($node, $dbname, $what) = @_;
	my ($rc, $out, $err) = $node->psql($dbname, q{
	    SET client_min_messages = warning;
	    CREATE EXTENSION IF NOT EXISTS amcheck;
	    SELECT count(*) FROM (
	        SELECT bt_index_check(c.oid, true)
	          FROM pg_index i
	          JOIN pg_class c ON c.oid = i.indexrelid
	          JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree'
	         WHERE c.relnamespace = 'medreserve'::regnamespace) x});
	ok($rc == 0 && $out > 0 && $err eq '',
		"amcheck: the $out btree indexes of the medreserve tables match their heaps $what")
	  or diag($err);
}

# sql_error(NODE, DBNAME, SQL): run SQL, expecting it to fail; returns
# "SQLSTATE: message" of the first error ('' when it succeeded).
sub sql_error
{
	my ($node, $dbname, $sql, %opt) = @_;
	my ($rc, $out, $err) = $node->psql($dbname, "\\set VERBOSITY verbose\n$sql", %opt);
	return $err =~ /ERROR:  ([0-9A-Z]{5}: [^\n]*)/ ? $1 : '';
}

# sql_answer(NODE, DBNAME, SQL): what a client is told: the output, or
# "SQLSTATE: message" of the first error.
sub sql_answer
{
	my ($node, $dbname, $sql, %opt) = @_;
	my ($rc, $out, $err) = $node->psql($dbname, "\\set VERBOSITY verbose\n$sql", %opt);
	return $err =~ /ERROR:  ([0-9A-Z]{5}: [^\n]*)/ ? $1 : $out;
}

# rows_ok(NODE, DBNAME, PREFIX, SQL): SQL returns rows (description, detail);
# each row is one test, passing when detail is NULL or empty.
sub rows_ok
{
	my ($node, $dbname, $prefix, $sql) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $out = $node->safe_psql($dbname, $sql, extra_params => [ '-F', "\t" ]);
	for my $line (split /\n/, $out)
	{
		my ($descr, $detail) = split /\t/, $line, 2;
		$detail //= '';
		ok($detail eq '', "$prefix: $descr") or diag($detail);
	}
}

1;
