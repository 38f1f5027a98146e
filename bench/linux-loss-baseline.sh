#!/bin/bash
# The Linux baseline of `tcpstack sim --bytes 1048576 --loss 25%`: two kernels, 1 MiB
# each way at once, LOSS% (default 25) of TCP packets dropped on arrival in each
# namespace, near-zero RTT, congestion control CC (default cubic; bbr is this machine's
# default), N runs (default 3), each given up after LIMIT seconds (default 120).
# The drop is on nftables' input hook: a drop on the output hook is no loss, as the
# sending kernel sees a local error and sends again at once. Netem is not in this kernel.
# As root. The namespaces are this run's own and go at exit (their processes too).
set -e
for tool in nft ip python3; do
  command -v $tool >/dev/null || { echo "linux-loss-baseline needs $tool (apt-get install -y nftables iproute2 python3)" >&2; exit 2; }
done
A=lkA$$; B=lkB$$
cleanup(){ for n in $A $B; do for p in $(ip netns pids $n 2>/dev/null); do kill $p 2>/dev/null; done; ip netns del $n 2>/dev/null; done; }
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add va netns $A type veth peer name vb netns $B
ip -n $A addr add 10.9.0.1/24 dev va; ip -n $B addr add 10.9.0.2/24 dev vb
ip -n $A link set va up; ip -n $B link set vb up
ip netns exec $A ethtool -K va tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec $B ethtool -K vb tso off gso off gro off >/dev/null 2>&1 || true
for ns in $A $B; do ip netns exec $ns nft -f - <<NFT
table inet imp { chain i { type filter hook input priority 0; meta l4proto tcp numgen random mod 100 < ${LOSS:-25} drop; }; }
NFT
done
for s in $(seq 1 ${N:-3}); do
ip netns exec $B python3 - <<PY &
import socket,threading
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'${CC:-cubic}'); s.bind(('10.9.0.2',5001)); s.listen(1)
c,_=s.accept()
def rd():
  n=0
  while n<1048576:
    d=c.recv(65536)
    if not d: break
    n+=len(d)
t=threading.Thread(target=rd,daemon=True); t.start(); c.sendall(b'x'*1048576); t.join(); c.shutdown(socket.SHUT_WR); c.recv(1); c.close()
PY
SP=$!
sleep 0.3
ip netns exec $A timeout $((${LIMIT:-120}+5)) python3 - <<PY || true
import socket,threading,time,os
t0=time.time(); c=socket.socket(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'${CC:-cubic}'); c.connect(('10.9.0.2',5001))
got=[0]
def rd():
  while got[0]<1048576:
    d=c.recv(65536)
    if not d: break
    got[0]+=len(d)
def run():
  t=threading.Thread(target=rd,daemon=True); t.start(); c.sendall(b'y'*1048576); t.join(); c.shutdown(socket.SHUT_WR); c.recv(1)
w=threading.Thread(target=run,daemon=True); w.start(); w.join(${LIMIT:-120})
if w.is_alive(): print("${CC:-cubic}: not finished after ${LIMIT:-120} s (received %d of 1048576)"%got[0]); os._exit(0)
print("${CC:-cubic}: %.2f s"%(time.time()-t0))
PY
kill $SP 2>/dev/null || true; wait $SP 2>/dev/null || true
done
