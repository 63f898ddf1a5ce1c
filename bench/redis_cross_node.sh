#!/usr/bin/env bash
# Redis CPU per publish with one pushwire node following the channel vs two: the difference is
# what one more cross-node pub/sub message costs Redis (and the bytes it sends). One Redis,
# the fan-out scenario, 200 subscribers on the first node or split over both, M (4000)
# messages as fast as accepted, three runs each. Usage: bench/redis_cross_node.sh (after ./build.sh build)
set -u
B="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/dist/bin"
fp(){ python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu(){ redis-cli -p $R INFO cpu | awk -F: '/used_cpu_(sys|user):/{s+=$2} END{printf "%.6f", s}'; }
out(){ redis-cli -p $R INFO stats | awk -F: '/total_net_output_bytes/{printf "%d", $2}'; }
D=$(mktemp -d /tmp/pushwire-xnode.XXXXXX)
R=$(fp); redis-server --port $R --bind 127.0.0.1 --save "" --appendonly no --dir $D --logfile $D/r.log & RP=$!
sleep 0.5
H1=$(fp); W1=$(fp); H2=$(fp); W2=$(fp)
$B/pushwire-server --port $H1 --ws-port $W1 --broker redis://127.0.0.1:$R >$D/a.log 2>&1 & A=$!
$B/pushwire-server --port $H2 --ws-port $W2 --broker redis://127.0.0.1:$R >$D/b.log 2>&1 & Bp=$!
sleep 1.5
M=${M:-4000}
for case in one two; do
  for rep in 1 2 3; do
    nodes=(); [[ $case == two ]] && nodes=(--subscribe-node $H1:$W1 --subscribe-node $H2:$W2)
    c0=$(cpu); o0=$(out)
    $B/pushwire-bench --target pushwire --port $H1 --ws-port $W1 --pid $A "${nodes[@]}" --scenario fanout \
      --subscribers 200 --messages $M --rate 0 --bytes 100 --warmup 0 --channel x$case$rep >/dev/null 2>$D/bench.err
    c1=$(cpu); o1=$(out)
    python3 -c "print('$case', 'redis cpu us/publish %.2f' % (($c1-$c0)*1e6/$M), 'bytes/publish %.0f' % (($o1-$o0)/$M))"
    tail -1 $D/bench.err | cut -c1-160
  done
done
kill $A $Bp $RP; wait; rm -rf $D
