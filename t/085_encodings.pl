# Names in databases that are not UTF-8 (issue 9 §2).  Characters are
# classified by the database encoding: in WIN1252, "’" (0x92) and "Š" (0x8A)
# are letters, not C1 controls, and the no-break space (0xA0) is a blank; in
# SQL_ASCII, bytes above 0x7F say nothing and are stored byte for byte.
# The client speaks UTF-8; the server converts.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::RealBin/lib";
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = medreserve_node('encodings', extension => 0);
for my $enc (qw(WIN1252 SQL_ASCII))
{
	$node->safe_psql('postgres',
		"CREATE DATABASE \"db_$enc\" ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
	$node->safe_psql("db_$enc", 'CREATE EXTENSION medreserve CASCADE');
	$node->safe_psql("db_$enc", q{
        SELECT count(*) FROM medreserve_add_slots(
            (SELECT id FROM medreserve_add_doctor('Dr Ada Grey')),
            now() + interval '1 day', now() + interval '1 day 1 hour', 15)});
}

sub q_utf8
{
	my ($db, $sql) = @_;
	$sql = "SET client_encoding = 'UTF8';\n\\set VERBOSITY verbose\n$sql";
	utf8::encode($sql);
	my ($rc, $out, $err) = $node->psql($db, $sql);
	utf8::decode($out);
	utf8::decode($err);
	return ($out, $err);
}

my ($out, $err);

# WIN1252
($out, $err) = q_utf8('db_WIN1252', q{SELECT name FROM medreserve_add_doctor('Dr Seán O’Brien')});
is($out, 'Dr Seán O’Brien', 'WIN1252: a doctor named Seán O’Brien is accepted');
($out, $err) = q_utf8('db_WIN1252', q{SELECT patient_name FROM medreserve_book(1, 'Šimon Novák')});
is($out, 'Šimon Novák', 'WIN1252: a patient named Šimon Novák books');
($out, $err) = q_utf8('db_WIN1252', "SELECT patient_name FROM medreserve_hold(2, E'\\u00A0Zoë\\u00A0')");
is($out, 'Zoë', 'WIN1252: no-break spaces around a name are trimmed');
($out, $err) = q_utf8('db_WIN1252', "SELECT medreserve_add_doctor(E'\\u00A0\\u00A0')");
like($err, qr/22023: name must not be blank/, 'WIN1252: a name of no-break spaces is blank (22023)');
($out, $err) = q_utf8('db_WIN1252', "SELECT medreserve_book(3, E'Ann\\tLee')");
like($err, qr/22023: patient_name must not contain control characters/, 'WIN1252: a tab is a control character');
($out, $err) = q_utf8('db_WIN1252', "SELECT count(*) FROM medreserve_verify()");
is($out, '0', 'WIN1252: the invariants hold');

# SQL_ASCII: high bytes are opaque
($out, $err) = q_utf8('db_SQL_ASCII', q{SELECT name, octet_length(name) FROM medreserve_add_doctor('Dr Seán O’Brien')});
is($out, 'Dr Seán O’Brien|18', 'SQL_ASCII: non-ASCII bytes are stored byte for byte');
($out, $err) = q_utf8('db_SQL_ASCII', "SELECT octet_length(patient_name) FROM medreserve_book(1, '\x{A0}Zoë ')");
is($out, '6', 'SQL_ASCII: a no-break space is opaque (kept), ASCII blanks are trimmed');
($out, $err) = q_utf8('db_SQL_ASCII', "SELECT medreserve_add_doctor('   ')");
like($err, qr/22023: name must not be blank/, 'SQL_ASCII: ASCII blanks are still blank');
($out, $err) = q_utf8('db_SQL_ASCII', "SELECT medreserve_book(2, E'Ann\\x01Lee')");
like($err, qr/22023: patient_name must not contain control characters/,
	'SQL_ASCII: ASCII controls are still refused');
done_testing();
