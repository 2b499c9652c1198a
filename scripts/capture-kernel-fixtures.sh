#!/usr/bin/env bash
# capture-kernel-fixtures.sh — record reference pcaps of the Linux kernel's VXLAN, set up as flannel does.
#
# Usage (as root):  scripts/capture-kernel-fixtures.sh [v4|v6|all] [OUTDIR]
#   defaults: all, OUTDIR = <repo>/fixtures.  Writes OUTDIR/kernel-v4/ and/or OUTDIR/kernel-v6/:
#   underlay.pcap  node1's underlay veth (VXLAN/UDP:4789 frames, both directions)
#   flannel.pcap   node1's VXLAN device (inner Ethernet frames as the kernel carries them, both directions)
#   pod.pcap       node1's pod-facing veth (pod1's traffic as it enters/leaves node1)
#   n1.yaml n2.yaml  vtep configs describing the topology;  capture-info.txt  kernel, devices, counts.
#
# Flow per family:
#   1. four network namespaces <prefix>-{n1,n2,p1,p2}, prefix "vtfx<pid><family>", deleted by the EXIT trap
#   2. underlay veth n1<->n2 (fixed MACs, permanent neighbours), VXLAN device + route/neigh/fdb as
#      flannel's pkg/backend/vxlan does, pod veths with fixed MACs, permanent neighbours, offloads off
#   3. settle (IPv6 MLD reports from link-up are over), start three tcpdumps, wait until they listen
#   4. traffic pod1 -> pod2 (replies included): ICMP echo 56 B x3, 1000 B x3, DF at the MTU edge x1,
#      UDP payload sizes 1..1400 (one datagram each), a 200 KiB TCP transfer, then one DF echo one byte
#      over the edge after raising pod1's link MTU to the underlay MTU (node1 answers frag-needed / PTB)
#   5. stop tcpdump with SIGINT (it flushes), check nothing was dropped; if a datagram or TCP segment
#      was lost (retransmission seen), capture again (at most 3 attempts); copy into OUTDIR
#
# Addresses used (nothing else is ever targeted): underlay 198.51.100.0/24, 2001:db8:100::/64,
# pods 10.244.0.0/16, fd00:10:244::/48. Every wait and traffic step is bounded in time.
set -euo pipefail
export LC_ALL=C

FAMILIES=${1:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=${2:-$ROOT/fixtures}
PY=/usr/bin/python3
UNDERLAY_MTU=1500
VNI=1
VXLAN_PORT=4789
UDP_SIZES_MAX=1400
TCP_BYTES=204800

case $FAMILIES in
  v4) FAMILIES="v4" ;; v6) FAMILIES="v6" ;; all) FAMILIES="v4 v6" ;;
  *) echo "usage: $0 [v4|v6|all] [OUTDIR]" >&2; exit 2 ;;
esac
[[ $(id -u) -eq 0 ]] || { echo "$0: must run as root (network namespaces, tcpdump)" >&2; exit 1; }
for t in ip bridge tcpdump tshark capinfos ethtool; do
  command -v "$t" >/dev/null || { echo "$0: missing tool: $t" >&2; exit 1; }
done
[[ -x $PY ]] || { echo "$0: missing $PY" >&2; exit 1; }

PREFIX="vtfx$$"
TMP=$(mktemp -d "/tmp/${PREFIX}.XXXXXX")
CREATED_NS=()   # namespaces this run created
BG_PIDS=()      # background processes this run started

cleanup() {
  local rc=$?
  set +e
  for pid in "${BG_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null; done
  for pid in "${BG_PIDS[@]}"; do
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
  for ns in "${CREATED_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------
# Traffic helper (python3, stdlib only). Deterministic payloads, fixed ports and ICMP identifier.
cat >"$TMP/fx.py" <<'PYEOF'
import errno, os, socket, struct, sys, time

ICMP_ID = 0x7674  # "vt"
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2
IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO = 23, 2
SO_MAX_PACING_RATE = 47
TCP_PACING_BYTES_PER_S = 8_000_000

def pattern(n, k=0):
    return bytes((k + j) & 0xFF for j in range(n))

def fam_of(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET

def inet_csum(b):
    if len(b) & 1: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def ping(dst, size, count, interval, df):
    """ICMP echo over a raw socket; exit 0 if every request got its reply."""
    af = fam_of(dst)
    v6 = af == socket.AF_INET6
    s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    if df:
        if v6: s.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO)
        else: s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    s.settimeout(0.2)
    got = 0
    for seq in range(1, count + 1):
        payload = pattern(size, seq)
        typ = 128 if v6 else 8
        hdr = struct.pack('!BBHHH', typ, 0, 0, ICMP_ID, seq)
        pkt = hdr + payload
        if not v6:  # the kernel fills the ICMPv6 checksum itself (RFC 3542 IPV6_CHECKSUM)
            pkt = struct.pack('!BBHHH', typ, 0, inet_csum(pkt), ICMP_ID, seq) + payload
        try:
            s.sendto(pkt, (dst, 0))
        except OSError as e:
            print('ping %s size %d seq %d: local error %s' % (dst, size, seq, errno.errorcode.get(e.errno, e.errno)))
            continue
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
            t, code = icmp[0], icmp[1]
            if (t, code) in ((0, 0), (129, 0)) and struct.unpack('!HH', icmp[4:8]) == (ICMP_ID, seq):
                got += 1
                break
            if (not v6 and t == 3) or (v6 and t == 2):
                mtu = struct.unpack('!H', icmp[6:8])[0] if not v6 else struct.unpack('!I', icmp[4:8])[0]
                print('ping %s size %d seq %d: ICMP type %d code %d mtu %d' % (dst, size, seq, t, code, mtu))
                break
        time.sleep(interval)
    print('ping %s size %d df=%d: %d/%d replies' % (dst, size, df, got, count))
    return 0 if got == count else 1

def udp_send(src, dst, sport, dport, maxsize):
    s = socket.socket(fam_of(dst), socket.SOCK_DGRAM)
    s.bind((src, sport))
    for size in range(1, maxsize + 1):
        s.sendto(pattern(size, size), (dst, dport))
        time.sleep(0.002)  # paced: the receiver never overflows, the capture stays ordered
    return 0

def udp_recv(bind, port, maxsize, ready):
    s = socket.socket(fam_of(bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((bind, port))
    open(ready, 'w').close()
    s.settimeout(3.0)
    seen, bad = set(), 0
    while len(seen) < maxsize:
        try:
            data = s.recv(65535)
        except socket.timeout:
            break
        if data != pattern(len(data), len(data)): bad += 1
        seen.add(len(data))
    print('udp: received %d/%d sizes, %d corrupt' % (len(seen), maxsize, bad))
    return 0 if len(seen) == maxsize and bad == 0 else 1

def tcp_send(src, dst, sport, dport, nbytes):
    s = socket.socket(fam_of(dst), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # paced (TCP internal pacing): no line-rate bursts that a loaded 2-core machine would drop
    s.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, TCP_PACING_BYTES_PER_S)
    s.settimeout(10.0)
    s.bind((src, sport))
    s.connect((dst, dport))
    s.sendall(pattern(nbytes))
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096): pass  # wait for the receiver's FIN
    s.close()
    return 0

def tcp_recv(bind, port, nbytes, ready):
    ls = socket.socket(fam_of(bind), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((bind, port))
    ls.listen(1)
    open(ready, 'w').close()
    ls.settimeout(10.0)
    c, _ = ls.accept()
    c.settimeout(10.0)
    buf = bytearray()
    while True:
        d = c.recv(65536)
        if not d: break
        buf += d
    c.close()
    ok = bytes(buf) == pattern(nbytes)
    print('tcp: received %d/%d bytes, content %s' % (len(buf), nbytes, 'ok' if ok else 'BAD'))
    return 0 if ok else 1

if __name__ == '__main__':
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == 'ping': rc = ping(a[0], int(a[1]), int(a[2]), float(a[3]), int(a[4]))
    elif cmd == 'udp-send': rc = udp_send(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))
    elif cmd == 'udp-recv': rc = udp_recv(a[0], int(a[1]), int(a[2]), a[3])
    elif cmd == 'tcp-send': rc = tcp_send(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))
    elif cmd == 'tcp-recv': rc = tcp_recv(a[0], int(a[1]), int(a[2]), a[3])
    else: rc = 2
    sys.exit(rc)
PYEOF

# ---------------------------------------------------------------------------------------------------
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

new_ns() {
  ip netns add "$1"
  CREATED_NS+=("$1")
  ip -n "$1" link set lo up
}

offloads_off() {  # ns dev — features a device cannot change are reported by ethtool and ignored
  nsx "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

wait_file() {  # path timeout_s
  local i
  for i in $(seq $(( $2 * 20 ))); do [[ -e $1 ]] && return 0; sleep 0.05; done
  return 1
}

start_bg() {  # logfile cmd... ; sets BG_LAST
  "${@:2}" >"$1" 2>&1 &
  BG_LAST=$!
  BG_PIDS+=("$BG_LAST")
}

forget_bg() {  # pid — remove a finished process from the cleanup list
  local keep=() p
  for p in "${BG_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  BG_PIDS=("${keep[@]}")
}

del_namespaces() {
  local ns keep=() n
  for ns in "$@"; do ip netns del "$ns"; done
  for n in "${CREATED_NS[@]}"; do
    for ns in "$@"; do [[ $n == "$ns" ]] && continue 2; done
    keep+=("$n")
  done
  CREATED_NS=("${keep[@]}")
}

write_yaml() {  # file self peer  (each: name ip vtepmac ulmac cidr)
  local f=$1
  cat >"$f" <<EOF
backend: vxlan
vxlan: { vni: $VNI, port: $VXLAN_PORT }
underlay: { mtu: $UNDERLAY_MTU }
node:
  name: $2
  underlayIP: $3
  vtepMAC: "$4"
  underlayMAC: "$5"
  podCIDRs: [$6]
peers:
  - name: $7
    underlayIP: $8
    vtepMAC: "$9"
    underlayMAC: "${10}"
    podCIDRs: [${11}]
EOF
}

run_family() {
  local fam=$1 p="${PREFIX}${1}"
  local N1="$p-n1" N2="$p-n2" P1="$p-p1" P2="$p-p2"
  local flag podplen vxdev overhead ul1 ul2 ulplen pod1 pod2 gw1 gw2 cidr1 cidr2 vt1 vt2 vtplen edge_payload
  if [[ $fam == v4 ]]; then
    flag=-4; vxdev=flannel.1; overhead=50
    ul1=198.51.100.1; ul2=198.51.100.2; ulplen=24
    cidr1=10.244.1.0/24; cidr2=10.244.2.0/24
    vt1=10.244.1.0; vt2=10.244.2.0; vtplen=32
    gw1=10.244.1.1; gw2=10.244.2.1; pod1=10.244.1.2; pod2=10.244.2.2; podplen=24
  else
    # flannel names its IPv6 VXLAN device flannel-v6.<VNI>
    flag=-6; vxdev=flannel-v6.1; overhead=70
    ul1=2001:db8:100::1; ul2=2001:db8:100::2; ulplen=64
    cidr1=fd00:10:244:1::/64; cidr2=fd00:10:244:2::/64
    vt1=fd00:10:244:1::; vt2=fd00:10:244:2::; vtplen=128
    gw1=fd00:10:244:1::1; gw2=fd00:10:244:2::1; pod1=fd00:10:244:1::2; pod2=fd00:10:244:2::2; podplen=64
  fi
  local vxmtu=$(( UNDERLAY_MTU - overhead ))
  local l3hdr=$([[ $fam == v4 ]] && echo 28 || echo 48)   # IP + ICMP echo header
  edge_payload=$(( vxmtu - l3hdr ))
  local UL1MAC=02:00:00:aa:00:01 UL2MAC=02:00:00:aa:00:02
  local VT1MAC=02:00:00:00:00:01 VT2MAC=02:00:00:00:00:02
  local N1PMAC=02:00:00:bb:01:01 P1MAC=02:00:00:bb:01:02 N2PMAC=02:00:00:bb:02:01 P2MAC=02:00:00:bb:02:02

  log "$fam: building namespaces $N1 $N2 $P1 $P2"
  local ns
  for ns in "$N1" "$N2" "$P1" "$P2"; do
    new_ns "$ns"
    if [[ $fam == v4 ]]; then
      # no IPv6 at all: no MLD / ND / RS frames in an IPv4 capture
      nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    else
      # no DAD (no NS at link-up), no router solicitations, no RA processing
      nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
        net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
        net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0
    fi
  done
  for ns in "$N1" "$N2"; do
    if [[ $fam == v4 ]]; then nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
    else nsx "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1; fi
  done

  # Underlay: node1 eth0 <-> node2 eth0, created directly inside the namespaces.
  ip -n "$N1" link add eth0 address $UL1MAC mtu $UNDERLAY_MTU type veth \
    peer name eth0 netns "$N2" address $UL2MAC mtu $UNDERLAY_MTU
  ip -n "$N1" addr add "$ul1/$ulplen" dev eth0 $([[ $fam == v6 ]] && echo nodad)
  ip -n "$N2" addr add "$ul2/$ulplen" dev eth0 $([[ $fam == v6 ]] && echo nodad)
  ip -n "$N1" $flag neigh add "$ul2" lladdr $UL2MAC dev eth0 nud permanent
  ip -n "$N2" $flag neigh add "$ul1" lladdr $UL1MAC dev eth0 nud permanent
  offloads_off "$N1" eth0; offloads_off "$N2" eth0
  ip -n "$N1" link set eth0 up; ip -n "$N2" link set eth0 up

  # Pods: podN eth0 <-> nodeN veth-podN.
  local i nsn nsp nmac pmac gw pod podcidr
  for i in 1 2; do
    if [[ $i == 1 ]]; then nsn=$N1 nsp=$P1 nmac=$N1PMAC pmac=$P1MAC gw=$gw1 pod=$pod1
    else nsn=$N2 nsp=$P2 nmac=$N2PMAC pmac=$P2MAC gw=$gw2 pod=$pod2; fi
    ip -n "$nsn" link add "veth-pod$i" address $nmac mtu $vxmtu type veth \
      peer name eth0 netns "$nsp" address $pmac mtu $vxmtu
    ip -n "$nsn" addr add "$gw/$podplen" dev "veth-pod$i" $([[ $fam == v6 ]] && echo nodad)
    ip -n "$nsp" addr add "$pod/$podplen" dev eth0 $([[ $fam == v6 ]] && echo nodad)
    ip -n "$nsn" $flag neigh add "$pod" lladdr $pmac dev "veth-pod$i" nud permanent
    ip -n "$nsp" $flag neigh add "$gw" lladdr $nmac dev eth0 nud permanent
    offloads_off "$nsn" "veth-pod$i"; offloads_off "$nsp" eth0
    ip -n "$nsn" link set "veth-pod$i" up; ip -n "$nsp" link set eth0 up
    ip -n "$nsp" $flag route add default via "$gw" dev eth0
  done

  # VXLAN devices, exactly flannel's shape (pkg/backend/vxlan: device.go + vxlan_network.go), port 4789.
  local nsa nsb ula ulb vta vtb vmaca vmacb cidrb
  for i in 1 2; do
    if [[ $i == 1 ]]; then nsa=$N1 ula=$ul1 ulb=$ul2 vta=$vt1 vtb=$vt2 vmaca=$VT1MAC vmacb=$VT2MAC cidrb=$cidr2
    else nsa=$N2 ula=$ul2 ulb=$ul1 vta=$vt2 vtb=$vt1 vmaca=$VT2MAC vmacb=$VT1MAC cidrb=$cidr1; fi
    ip -n "$nsa" link add $vxdev address $vmaca mtu $vxmtu type vxlan id $VNI local "$ula" dev eth0 \
      dstport $VXLAN_PORT nolearning
    [[ $fam == v6 ]] && nsx "$nsa" sysctl -qw "net/ipv6/conf/$vxdev/accept_ra=0"   # flannel does this
    ip -n "$nsa" addr add "$vta/$vtplen" dev $vxdev $([[ $fam == v6 ]] && echo nodad)
    offloads_off "$nsa" $vxdev
    ip -n "$nsa" link set $vxdev up
    # flannel order: neighbour (ARP/NDP) entry, fdb entry, then the onlink route
    ip -n "$nsa" $flag neigh add "$vtb" lladdr $vmacb dev $vxdev nud permanent
    bridge -n "$nsa" fdb append $vmacb dev $vxdev dst "$ulb" self permanent
    ip -n "$nsa" $flag route add "$cidrb" via "$vtb" dev $vxdev onlink
  done

  local got_mtu
  got_mtu=$(ip -n "$N1" -o link show $vxdev | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
  [[ $got_mtu == "$vxmtu" ]] || die "$vxdev MTU is $got_mtu, expected $vxmtu"

  # Settle: link-up MLD reports (IPv6) are sent within ~1 s with one retransmission; none may leak in.
  sleep $([[ $fam == v6 ]] && echo 3 || echo 1)

  log "$fam: starting captures"
  local cap="$TMP/$fam" c
  mkdir -p "$cap"
  local -A CAPDEV=([underlay]=eth0 [flannel]=$vxdev [pod]=veth-pod1) CAPPID=()
  for c in underlay flannel pod; do
    start_bg "$cap/$c.log" ip netns exec "$N1" tcpdump -Z root -i "${CAPDEV[$c]}" -n -U -s 0 \
      --immediate-mode --time-stamp-precision=micro -w "$cap/$c.pcap"
    CAPPID[$c]=$BG_LAST
  done
  for c in underlay flannel pod; do
    for i in $(seq 100); do grep -q 'listening on' "$cap/$c.log" 2>/dev/null && break; sleep 0.05; done
    grep -q 'listening on' "$cap/$c.log" || die "tcpdump on ${CAPDEV[$c]} did not start: $(cat "$cap/$c.log")"
  done
  sleep 0.3

  local tlog="$cap/traffic.log"
  : >"$tlog"
  log "$fam: ICMP echo 56 B x3, 1000 B x3, DF $edge_payload B (edge) x1"
  nsx "$P1" $PY "$TMP/fx.py" ping "$pod2" 56 3 0.1 0 >>"$tlog"
  nsx "$P1" $PY "$TMP/fx.py" ping "$pod2" 1000 3 0.1 0 >>"$tlog"
  nsx "$P1" $PY "$TMP/fx.py" ping "$pod2" $edge_payload 1 0.1 1 >>"$tlog"

  log "$fam: UDP payload sizes 1..$UDP_SIZES_MAX, one datagram each"
  rm -f "$cap/udp.ready"
  start_bg "$cap/udp-recv.log" ip netns exec "$P2" $PY "$TMP/fx.py" udp-recv "$pod2" 9000 $UDP_SIZES_MAX "$cap/udp.ready"
  local rpid=$BG_LAST
  wait_file "$cap/udp.ready" 5 || die "UDP receiver did not start"
  nsx "$P1" timeout 20 $PY "$TMP/fx.py" udp-send "$pod1" "$pod2" 40000 9000 $UDP_SIZES_MAX
  if ! wait "$rpid"; then log "$fam: UDP receiver: $(cat "$cap/udp-recv.log")"; RETRY=1; fi
  forget_bg "$rpid"; cat "$cap/udp-recv.log" >>"$tlog"

  log "$fam: TCP transfer of $TCP_BYTES bytes"
  rm -f "$cap/tcp.ready"
  start_bg "$cap/tcp-recv.log" ip netns exec "$P2" timeout 30 $PY "$TMP/fx.py" tcp-recv "$pod2" 9001 $TCP_BYTES "$cap/tcp.ready"
  rpid=$BG_LAST
  wait_file "$cap/tcp.ready" 5 || die "TCP receiver did not start"
  nsx "$P1" timeout 30 $PY "$TMP/fx.py" tcp-send "$pod1" "$pod2" 40001 9001 $TCP_BYTES
  if ! wait "$rpid"; then log "$fam: TCP receiver: $(cat "$cap/tcp-recv.log")"; RETRY=1; fi
  forget_bg "$rpid"; cat "$cap/tcp-recv.log" >>"$tlog"

  # One byte over the edge. With pod1 at the VXLAN MTU the kernel refuses locally (EMSGSIZE) and
  # nothing reaches the wire, so pod1's link is first raised to the underlay MTU (as a pod with a
  # too-large MTU would be): node1 then answers from its forwarding path with ICMP frag-needed /
  # ICMPv6 packet-too-big carrying the VXLAN device MTU.
  log "$fam: DF echo $((edge_payload + 1)) B (one over the edge) with pod1 link MTU $UNDERLAY_MTU"
  ip -n "$N1" link set veth-pod1 mtu $UNDERLAY_MTU
  ip -n "$P1" link set eth0 mtu $UNDERLAY_MTU
  sleep 0.2
  nsx "$P1" $PY "$TMP/fx.py" ping "$pod2" $((edge_payload + 1)) 1 0.1 1 >>"$tlog" || true
  sleep 0.5

  log "$fam: stopping captures"
  for c in underlay flannel pod; do kill -INT "${CAPPID[$c]}"; done
  for c in underlay flannel pod; do
    wait "${CAPPID[$c]}" || true
    forget_bg "${CAPPID[$c]}"
    grep -q '^0 packets dropped by kernel' "$cap/$c.log" || die "tcpdump ${CAPDEV[$c]} dropped packets: $(cat "$cap/$c.log")"
  done

  # A frame lost to CPU contention (2 shared cores) shows up as a TCP retransmission: capture again.
  local lost
  lost=$(tshark -r "$cap/underlay.pcap" -Y 'tcp.analysis.retransmission || tcp.analysis.fast_retransmission ||
    tcp.analysis.out_of_order || tcp.analysis.lost_segment' 2>/dev/null | wc -l)
  if (( lost > 0 )); then log "$fam: $lost TCP segments retransmitted or out of order"; RETRY=1; fi
  if (( RETRY )); then
    del_namespaces "$N1" "$N2" "$P1" "$P2"
    return 0
  fi

  # Record the device configuration the kernel ended up with, then tear the namespaces down.
  local dest="$OUTDIR/kernel-$fam"
  mkdir -p "$dest"
  for c in underlay flannel pod; do cp "$cap/$c.pcap" "$dest/$c.pcap"; done
  {
    echo "# Written by scripts/capture-kernel-fixtures.sh $fam — do not edit by hand."
    echo "kernel: $(uname -r)"
    echo "captured: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "tcpdump: $(tcpdump --version 2>&1 | head -1)"
    echo "underlay MTU $UNDERLAY_MTU, $vxdev MTU $vxmtu, ICMP edge payload $edge_payload"
    echo
    echo "## node1 $vxdev (ip -d link)"
    nsx "$N1" ip -d link show $vxdev | sed 's/^/    /'
    echo "## node1 fdb / neigh / routes on $vxdev"
    bridge -n "$N1" fdb show dev $vxdev | sed 's/^/    /'
    ip -n "$N1" $flag neigh show dev $vxdev | sed 's/^/    /'
    ip -n "$N1" $flag route show dev $vxdev | sed 's/^/    /'
    echo "## node1 local port range (outer UDP source port range)"
    echo "    $(nsx "$N1" cat /proc/sys/net/ipv4/ip_local_port_range)"
    echo "## traffic"
    sed 's/^/    /' "$tlog"
    echo "## packets per file"
    for c in underlay flannel pod; do
      printf '    %-14s %6s packets %9s bytes\n' "$c.pcap" \
        "$(capinfos -M -c "$dest/$c.pcap" | awk -F: '/Number of packets/ {gsub(/ /,"",$2); print $2}')" \
        "$(stat -c %s "$dest/$c.pcap")"
    done
  } >"$dest/capture-info.txt"

  write_yaml "$dest/n1.yaml" n1 "$ul1" $VT1MAC $UL1MAC "$cidr1" n2 "$ul2" $VT2MAC $UL2MAC "$cidr2"
  write_yaml "$dest/n2.yaml" n2 "$ul2" $VT2MAC $UL2MAC "$cidr2" n1 "$ul1" $VT1MAC $UL1MAC "$cidr1"

  del_namespaces "$N1" "$N2" "$P1" "$P2"

  log "$fam: done -> $dest"
  sed -n '/## traffic/,$p' "$dest/capture-info.txt" >&2
}

ATTEMPTS=3
for f in $FAMILIES; do
  for attempt in $(seq $ATTEMPTS); do
    RETRY=0
    run_family "$f"
    (( RETRY )) || break
    (( attempt < ATTEMPTS )) || die "$f: no clean capture in $ATTEMPTS attempts (is the machine overloaded?)"
    log "$f: capturing again (attempt $((attempt + 1)) of $ATTEMPTS)"
  done
done
