# Release metadata agree with each other (no cluster needed): the version in
# medreserve.control, META.json (PGXN Meta Spec 1.0.0), CHANGELOG.md and
# debian/changelog; the spec's required fields; the licence everywhere; and
# every version with an install or upgrade script has its CHANGELOG entry.
use strict;
use warnings;
use FindBin;
use JSON::PP;
use Test::More;

my $top = "$FindBin::RealBin/..";
sub slurp { my ($f) = @_; open my $fh, '<', "$top/$f" or die "$f: $!"; local $/; return <$fh>; }

my $control = slurp('medreserve.control');
my ($version) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
my ($requires) = $control =~ /^requires\s*=\s*'([^']*)'/m;
ok($version, "medreserve.control has a default_version ($version)");

# PGXN wants semantic versions: 1.2 is 1.2.0
my $semver = $version =~ /^\d+\.\d+$/ ? "$version.0" : $version;

my $meta = JSON::PP->new->decode(slurp('META.json'));
for my $field (qw(name abstract version maintainer license provides meta-spec))
{
	ok(defined $meta->{$field}, "META.json has the required field $field");
}
is($meta->{'meta-spec'}{version}, '1.0.0', 'META.json follows Meta Spec 1.0.0');
is($meta->{name}, 'medreserve', 'META.json names the distribution medreserve');
like($meta->{version}, qr/^\d+\.\d+\.\d+(-[0-9A-Za-z-]+)?$/, 'META.json version is semantic');
is($meta->{version}, $semver, 'META.json version is the control file\'s default_version');
is($meta->{provides}{medreserve}{version}, $semver, 'the extension provided has that version');
ok(-f "$top/$meta->{provides}{medreserve}{$_}", "provides.$_ ($meta->{provides}{medreserve}{$_}) exists")
  for qw(file docfile);
ok(ref $meta->{maintainer} eq 'ARRAY' ? @{ $meta->{maintainer} } : length $meta->{maintainer},
	'META.json names a maintainer');
is_deeply([ keys %{ $meta->{license} } ], ['PostgreSQL'], 'META.json licence is PostgreSQL');
like(slurp('LICENSE'), qr/the medreserve developers.*Permission to use, copy, modify, and distribute/s,
	'LICENSE is the PostgreSQL Licence of the medreserve developers');
like(slurp('debian/copyright'), qr/^License: PostgreSQL$/m, 'debian/copyright says PostgreSQL too');

my $req = $meta->{prereqs}{runtime}{requires};
like($req->{PostgreSQL} // '', qr/^15\./, 'META.json requires PostgreSQL 15');
for my $ext (grep { length } split /\s*,\s*/, $requires // '')
{
	ok(exists $req->{$ext}, "META.json requires $ext, as the control file does");
}
ok(exists $meta->{prereqs}{runtime}{recommends}{pg_cron}, 'META.json recommends pg_cron');

# CHANGELOG.md: the newest entry is the default version; every version that
# has a script in sql/ has an entry.
my $changelog = slurp('CHANGELOG.md');
my @entries = $changelog =~ /^## (\S+)/mg;
is($entries[0], $version, 'the newest CHANGELOG.md entry is the default version');
my %script_versions;
for my $f (glob "$top/sql/medreserve--*.sql")
{
	$script_versions{$1} = 1 if $f =~ /medreserve--(?:[\d.]+--)?([\d.]+)\.sql$/;
}
ok(exists $script_versions{$version}, "sql/ has a script that reaches $version");
for my $v (sort keys %script_versions)
{
	ok((grep { $_ eq $v } @entries), "CHANGELOG.md has an entry for $v");
}
my $unreleased = $changelog =~ /^## \Q$version\E \(unreleased\)/m;

# debian/changelog: upstream part of the newest version, and the
# distribution stays UNRELEASED while CHANGELOG.md says unreleased.
my ($debversion, $dist) = slurp('debian/changelog') =~ /^medreserve \(([^)]+)\) (\S+);/;
(my $upstream = $debversion) =~ s/-[^-]+$//;
is($upstream, $version, "debian/changelog ($debversion) packages the default version");
is($dist eq 'UNRELEASED' ? 1 : 0, $unreleased ? 1 : 0,
	'debian/changelog is UNRELEASED exactly when CHANGELOG.md says unreleased');
is(($meta->{release_status} // 'stable') eq 'stable' ? 0 : 1, $unreleased ? 1 : 0,
	'META.json release_status is not stable exactly when the version is unreleased');

# debian/pgversions and control.in name the versions we build for
like(slurp('debian/pgversions'), qr/^15\+$/m, 'debian/pgversions is 15+');
like(slurp('debian/control.in'), qr/^Package: postgresql-PGVERSION-medreserve$/m,
	'debian/control.in builds postgresql-NN-medreserve');
done_testing();
