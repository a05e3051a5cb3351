# The Debian package, installed: run by tools/package-test.sh (make
# deb-check) with MEDRESERVE_DEB set to the .deb and the installation that
# holds the package's files first on PATH (the server's own after apt-get
# install, or a private copy with the package unpacked into it).  Skipped by
# a plain make installcheck, where the files come from make install.
#
# Proves that the installation's files are the package's, byte for byte, and
# that they work: a fresh cluster preloads the library, CREATE EXTENSION
# gives the control file's default version, a slot is booked and refused a
# second time, and the upgrade chain 1.0 -> 1.1 -> 1.2 runs from the
# package's scripts.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/lib";
use Digest::MD5;
use MedReserveTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $deb = $ENV{MEDRESERVE_DEB};
plan skip_all => 'MEDRESERVE_DEB is not set (tools/package-test.sh sets it)'
  unless $deb;
die "$deb is not readable" unless -r $deb;

# The package's files under usr/lib/postgresql and usr/share/postgresql.
my @files = grep { m{^\./usr/(lib|share)/postgresql/} && !m{/$} }
  map { (split ' ', $_)[5] } split /\n/, `dpkg-deb -c '$deb'`;
ok(scalar(grep { m{/medreserve\.so$} } @files), 'the package holds the library');

# Map the package's paths onto the installation on PATH: its pkglibdir and
# sharedir may be a private copy under another root.
my ($libdir, $sharedir) = map { my $d = `pg_config --$_`; chomp $d; $d } qw(pkglibdir sharedir);
my $version = $ENV{MEDRESERVE_PGVERSION} // '15';
my $differ = 0;
for my $f (@files)
{
	(my $rel = $f) =~ s{^\./}{/};
	my $installed = $rel;
	$installed =~ s{^/usr/lib/postgresql/$version/lib}{$libdir};
	$installed =~ s{^/usr/share/postgresql/$version}{$sharedir};
	my $packaged = `dpkg-deb --fsys-tarfile '$deb' | tar -xOf - '$f'`;
	open my $fh, '<', $installed or do { diag("missing: $installed"); $differ++; next; };
	binmode $fh;
	my $on_disk = Digest::MD5->new->addfile($fh)->hexdigest;
	if ($on_disk ne Digest::MD5::md5_hex($packaged)) { diag("differs: $installed"); $differ++; }
}
is($differ, 0, 'every file of the package is installed as packaged (' . scalar(@files) . ' files)');

my $node = medreserve_node('package');
is($node->safe_psql('postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'medreserve'}),
	$node->safe_psql('postgres',
		q{SELECT default_version FROM pg_available_extensions WHERE name = 'medreserve'}),
	'CREATE EXTENSION installs the default version');
is($node->safe_psql('postgres', q{SELECT metrics_available FROM medreserve_stats()}),
	't', 'the preloaded library has its counters');

$node->safe_psql('postgres', q{
    SELECT medreserve_add_doctor('Dr Ada Grey', 'cardiology');
    SELECT count(*) FROM medreserve_add_slots(1, now() + interval '1 day',
                                              now() + interval '1 day 1 hour', 15);
});
is($node->safe_psql('postgres', q{SELECT status FROM medreserve_book(1, 'Ann Lee')}),
	'CONFIRMED', 'a slot is booked');
my ($rc, $out, $err) = $node->psql('postgres',
	q{\set VERBOSITY verbose
	  SELECT medreserve_book(1, 'Bob Marsh')});
like($err, qr/23505: slot 1 is already booked/, 'booking it again is refused with 23505');
invariants_hold($node, 'postgres', 'after booking from the package');

# The upgrade chain from the package's scripts, on a populated 1.0 database.
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', q{
    CREATE EXTENSION btree_gist;
    CREATE EXTENSION medreserve VERSION '1.0';
    SELECT medreserve_add_doctor('Dr Ben Ode');
    SELECT count(*) FROM medreserve_add_slots(1, now() + interval '1 day',
                                              now() + interval '1 day', 15);
    -- the booking as 1.0 stored it, written directly: 1.0's SQL functions
    -- would run the packaged 1.2 library, which needs the 1.2 objects
    INSERT INTO medreserve.bookings (slot_id, patient_name, status) VALUES (1, 'Ann Lee', 'CONFIRMED');
    INSERT INTO medreserve.booking_slots (booking_id, slot_id) VALUES (1, 1);
    ALTER EXTENSION medreserve UPDATE;
});
is($node->safe_psql('old',
		q{SELECT extversion || ' ' || (SELECT count(*) FROM medreserve.bookings)
		    FROM pg_extension WHERE extname = 'medreserve'}),
	$node->safe_psql('old',
		q{SELECT default_version FROM pg_available_extensions WHERE name = 'medreserve'}) . ' 1',
	'1.0 with a booking updates to the default version and keeps the booking');
invariants_hold($node, 'old', 'after the update');

$node->stop;
done_testing();
