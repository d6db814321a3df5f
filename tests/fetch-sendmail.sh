#!/bin/sh
# fetch-sendmail.sh -- unpack Debian's Sendmail into a directory, for
# tests/integration/test_sendmail.py, without installing it.
#
# usage: tests/fetch-sendmail.sh DIR
#
# Debian's sendmail packages conflict with Postfix (both provide
# mail-transport-agent), so they are not installed: "apt-get download" fetches
# sendmail-bin and sendmail-cf, with m4 (to build a .cf) and libwrap0 (a
# library sendmail links that Postfix does not pull in), and "dpkg-deb -x"
# unpacks them into DIR.  Nothing on the system changes (apt-get update runs
# once if the package lists are stale).  The setgid bit of the unpacked
# sendmail is dropped so that LD_LIBRARY_PATH reaches it.
#
# Exit status 0 when DIR holds a usable Sendmail (unpacked now or by an
# earlier run), 1 when it could not be fetched (the reason on stderr).
set -u
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
bin=usr/libexec/sendmail/sendmail

[ -f "$dir/.unpacked" ] && [ -x "$dir/$bin" ] && exit 0

for tool in apt-get dpkg-deb; do
    command -v $tool >/dev/null 2>&1 || { echo "$tool not found (not a Debian system?)" >&2; exit 1; }
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
download() {
    (cd "$tmp" && apt-get -q -o APT::Sandbox::User=root download \
        sendmail-bin sendmail-cf m4 libwrap0) >"$tmp/log" 2>&1
}
if ! download; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$tmp/log" 2>&1
        download
    fi || { echo "apt-get download sendmail-bin sendmail-cf m4 libwrap0 failed:" >&2; tail -5 "$tmp/log" >&2; exit 1; }
fi

mkdir -p "$(dirname "$dir")" || exit 1
rm -rf "$dir.new"
mkdir "$dir.new" || exit 1
for deb in "$tmp"/*.deb; do
    dpkg-deb -x "$deb" "$dir.new" || { echo "dpkg-deb -x $deb failed" >&2; exit 1; }
done
[ -x "$dir.new/$bin" ] || { echo "no $bin in the packages" >&2; exit 1; }
chmod 0755 "$dir.new/$bin" || exit 1
(cd "$tmp" && ls -- *.deb) >"$dir.new/.unpacked" || exit 1
rm -rf "$dir"
mv "$dir.new" "$dir" || exit 1
exit 0
