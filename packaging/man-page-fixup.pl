#!/usr/bin/perl -0p
# Makes a page of swift-argument-parser's generate-manual what man-db and
# lintian expect of a subcommand's page: its name in NAME and .Dt is the
# page's (buildos-clean-cleanup, not "buildos-clean cleanup" or
# BUILDOS-CLEAN.CLEANUP), the synopsis still shows the command as typed,
# the one-line description is unquoted, and an empty line (which groff
# warns of) is a paragraph break.
my ($name) = /^\.Nm "([^"]+)"$/m;
if (defined $name) {
    (my $page = $name) =~ s/ /-/g;
    s/^\.Nm "\Q$name\E"$/.Nm $page/m;
    s/^(\.Sh SYNOPSIS\n)\.Nm\n/$1.Nm "$name"\n/m;
}
s/^\.Dt (\S+)/".Dt " . ($1 =~ tr{.}{-}r)/me;
s/^\.Nd "(.*)"$/.Nd $1/m;
s/^$/.Pp/mg;
