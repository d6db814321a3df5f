#!/bin/sh
# make demo: a private redis-server and patchdigest-milter in build/demo,
# sample list mail fed through the milter protocol, the live counters, then
# a flush that mails the digest (the demo's Sendmail appends it to a file)
# and the digest it mailed.
set -eu
BUILD=${BUILD:-build}
top=$(pwd)
demo="$top/$BUILD/demo"
rm -rf "$demo"
mkdir -p "$demo"
cleanup() {
    [ -f "$demo/milter.pid" ] && kill "$(cat "$demo/milter.pid")" 2>/dev/null || true
    [ -f "$demo/redis.pid" ] && kill "$(cat "$demo/redis.pid")" 2>/dev/null || true
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$demo/redis.sock" --unixsocketperm 700 --save "" \
    --appendonly no --dir "$demo" >"$demo/redis.log" 2>&1 &
echo $! >"$demo/redis.pid"

cat >"$demo/patchdigest.conf" <<CONF
# the demo's configuration: see conf/patchdigest.conf for every key
Socket      unix:$demo/milter.sock
Redis       unix:$demo/redis.sock
List        kvm-ppc.vger.kernel.org KVM-PPC
DigestFrom  patchdigest@example.org
DigestTo    kvm-ppc-digest@example.org
Sendmail    cat >> $demo/sent-digests.mbox
DomainMap   $top/tests/data/domain-map
JournalDir  $demo/journal
PidFile     $demo/milter.pid
LogLevel    info
CONF
chmod 640 "$demo/patchdigest.conf"

i=0
until redis-cli -s "$demo/redis.sock" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "redis-server did not start"; exit 1; }; sleep 0.1
done

"$BUILD/patchdigest-milter" -f -c "$demo/patchdigest.conf" 2>"$demo/milter.log" &
echo $! >"$demo/milter.pid"
i=0
until [ -S "$demo/milter.sock" ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "patchdigest-milter did not start"; cat "$demo/milter.log"; exit 1; }
    sleep 0.1
done
sleep 0.3

n=$(ls tests/data/demo/*.eml | wc -l)
echo "== feeding $n posts of the kvm-ppc list through the milter protocol"
ls tests/data/demo/*.eml >"$demo/feed.list"
"$BUILD/tests/feeder" -s "unix:$demo/milter.sock" -R 3 -l "$demo/feed.list"

echo
echo "== how patchdigest classifies them (patchdigest classify)"
"$BUILD/patchdigest" classify tests/data/demo/*.eml | sed "s|tests/data/demo/||" | cut -c1-150

i=0
until "$BUILD/patchdigest" stats --json -c "$demo/patchdigest.conf" 2>/dev/null |
      grep -q "\"mails\":$n,"; do
    i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
done
echo
echo "== the live counters of the open window (patchdigest stats)"
"$BUILD/patchdigest" stats -c "$demo/patchdigest.conf"
echo
echo "== patchdigest flush: close the window, mail its digest"
"$BUILD/patchdigest" flush -c "$demo/patchdigest.conf"
echo
echo "== the digest it mailed ($BUILD/demo/sent-digests.mbox)"
cat "$demo/sent-digests.mbox"
echo
echo "== the milter's log"
kill "$(cat "$demo/milter.pid")"; wait "$(cat "$demo/milter.pid")" || true; rm -f "$demo/milter.pid"
cat "$demo/milter.log"
