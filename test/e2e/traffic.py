#!/usr/bin/python3
"""Traffic helper for the vtep end-to-end tests (stdlib only; run inside a network namespace).

Every command prints JSON lines on stdout; the last line is the result. Every wait is bounded.

  ping DST SIZE COUNT DF [TIMEOUT_S [INTERVAL_S]]  ICMP/ICMPv6 echo over a raw socket, one at a time. Result:
        {"sent", "received", "local_errors": [errno names], "icmp_errors": [{"type","code","mtu","from"}]}
  udp-echo BIND PORT LIFETIME_S               echo every datagram back; prints {"ready": true} once bound
  udp-probe DST PORT SIZES [TIMEOUT_S]        stop-and-wait: one datagram per size (comma list), payload
        byte j = (size + seq + j) & 0xff; Result: {"sent","ok","lost","bad"}
  tcp-sink BIND PORT TIMEOUT_S                accept one connection, read to EOF. Prints {"ready": true}, then
        {"bytes", "sha256", "seconds"}
  tcp-source DST PORT FILE TIMEOUT_S [SRC]    connect, send FILE (sendfile), shut down, wait for the peer's FIN.
        Result: {"bytes", "sha256", "seconds"}
  udp-sink BIND PORT LIFETIME_S               print {"ready": true}, then one line per datagram received:
        {"data": hex, "tos": TOS/traffic class of the packet, "from": address}
  udp-send SRC DST PORT TOS HEX [HEX ...]     send each hex payload once from SRC (any port) with IP_TOS /
        IPV6_TCLASS = TOS (ECN bits included: UDP sockets keep them). Result: {"sent"}
  tcp-stream DST PORT SECONDS RATE [STOPFILE] send a paced deterministic stream at RATE bytes/s for at most
        SECONDS (or until STOPFILE exists); prints {"started": true} once connected, then
        {"bytes","sha256","seconds"}; the receiving side is tcp-sink.
"""
import errno, hashlib, json, os, socket, struct, sys, time

ICMP_ID = 0x7665  # "ve"
IP_MTU_DISCOVER, IP_PMTUDISC_DO, IP_PMTUDISC_DONT = 10, 2, 0
IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO = 23, 2
IPV6_TCLASS = 67


def out(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def fam_of(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


def pattern(n, k=0):
    return bytes((k + j) & 0xFF for j in range(n))


def inet_csum(b):
    if len(b) & 1:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ping(dst, size, count, df, timeout=2.0, interval=0.0):
    af = fam_of(dst)
    v6 = af == socket.AF_INET6
    s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    if v6:
        if df:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT)
    got, local_errors, icmp_errors = 0, [], []
    for seq in range(1, count + 1):
        payload = pattern(size, seq)
        typ = 128 if v6 else 8
        pkt = struct.pack('!BBHHH', typ, 0, 0, ICMP_ID, seq) + payload
        if not v6:  # the kernel fills the ICMPv6 checksum itself
            pkt = struct.pack('!BBHHH', typ, 0, inet_csum(pkt), ICMP_ID, seq) + payload
        try:
            s.sendto(pkt, (dst, 0))
        except OSError as e:
            local_errors.append(errno.errorcode.get(e.errno, str(e.errno)))
            continue
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, frm = s.recvfrom(65535)
            except socket.timeout:
                break
            icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
            t, code = icmp[0], icmp[1]
            if (t, code) in ((0, 0), (129, 0)) and struct.unpack('!HH', icmp[4:8]) == (ICMP_ID, seq):
                if icmp[8:] == payload:
                    got += 1
                else:
                    local_errors.append('corrupt-reply')
                break
            if (not v6 and t == 3) or (v6 and t == 2):
                # the quoted packet must be ours: echo request with our id/seq
                q = icmp[8:]
                qoff = 40 if v6 else (q[0] & 0x0F) * 4 if q else 0
                qi = q[qoff:qoff + 8]
                if len(qi) >= 8 and qi[0] == typ and struct.unpack('!HH', qi[4:8]) == (ICMP_ID, seq):
                    mtu = struct.unpack('!I', icmp[4:8])[0] if v6 else struct.unpack('!H', icmp[6:8])[0]
                    icmp_errors.append({'type': t, 'code': code, 'mtu': mtu, 'from': frm[0]})
                    break
        if interval > 0:
            time.sleep(interval)
    out({'sent': count, 'received': got, 'local_errors': local_errors, 'icmp_errors': icmp_errors})
    return 0


def udp_echo(bind, port, lifetime):
    s = socket.socket(fam_of(bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((bind, port))
    out({'ready': True})
    end = time.monotonic() + lifetime
    n = 0
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            data, frm = s.recvfrom(65535)
        except socket.timeout:
            continue
        s.sendto(data, frm)
        n += 1
    out({'echoed': n})
    return 0


def udp_probe(dst, port, sizes, timeout=1.0):
    s = socket.socket(fam_of(dst), socket.SOCK_DGRAM)
    s.connect((dst, port))
    ok = lost = bad = 0
    for seq, size in enumerate(sizes):
        payload = pattern(size, size + seq)
        s.send(payload)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                lost += 1
                break
            s.settimeout(left)
            try:
                data = s.recv(65535)
            except socket.timeout:
                lost += 1
                break
            except ConnectionRefusedError:
                lost += 1
                break
            if data == payload:
                ok += 1
                break
            # a late echo of an earlier datagram (counted lost already) is skipped; anything else is corrupt
            if not any(data == pattern(z, z + k) for k, z in enumerate(sizes[:seq])):
                bad += 1
                break
    out({'sent': len(sizes), 'ok': ok, 'lost': lost, 'bad': bad})
    return 0


def tcp_sink(bind, port, timeout):
    ls = socket.socket(fam_of(bind), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((bind, port))
    ls.listen(1)
    out({'ready': True})
    ls.settimeout(timeout)
    c, _ = ls.accept()
    t0 = time.monotonic()
    c.settimeout(timeout)
    h = hashlib.sha256()
    n = 0
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    while True:
        k = c.recv_into(buf)
        if k == 0:
            break
        h.update(mv[:k])
        n += k
    c.close()
    out({'bytes': n, 'sha256': h.hexdigest(), 'seconds': round(time.monotonic() - t0, 3)})
    return 0


def tcp_source(dst, port, path, timeout, src=None):
    s = socket.socket(fam_of(dst), socket.SOCK_STREAM)
    s.settimeout(min(timeout, 10.0))  # a dead tunnel fails the connect quickly
    if src:
        s.bind((src, 0))
    t0 = time.monotonic()
    s.connect((dst, port))
    s.settimeout(timeout)
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
        f.seek(0)
        n = s.sendfile(f)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
    out({'bytes': n, 'sha256': h.hexdigest(), 'seconds': round(time.monotonic() - t0, 3)})
    return 0


def tcp_stream(dst, port, seconds, rate, stopfile=None):
    """A long-running paced transfer (for 'a running transfer survives a reload')."""
    s = socket.socket(fam_of(dst), socket.SOCK_STREAM)
    s.settimeout(10.0)
    s.connect((dst, port))
    out({'started': True})
    h = hashlib.sha256()
    chunk = 16384
    n, k = 0, 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if stopfile and k % 16 == 0 and os.path.exists(stopfile):
            break
        b = pattern(chunk, k)
        s.sendall(b)
        h.update(b)
        n += chunk
        k += 1
        ahead = n / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
    out({'bytes': n, 'sha256': h.hexdigest(), 'seconds': round(time.monotonic() - t0, 3)})
    return 0


def udp_sink(bind, port, lifetime):
    af = fam_of(bind)
    s = socket.socket(af, socket.SOCK_DGRAM)
    if af == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    s.bind((bind, port))
    out({'ready': True})
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            data, anc, _flags, frm = s.recvmsg(65535, 64)
        except socket.timeout:
            continue
        tos = None
        for level, typ, val in anc:
            if (level, typ) in ((socket.IPPROTO_IP, socket.IP_TOS), (socket.IPPROTO_IPV6, socket.IPV6_TCLASS)):
                tos = val[0] if len(val) == 1 else struct.unpack('=i', val[:4])[0]
        out({'data': data.hex(), 'tos': tos, 'from': frm[0]})
    return 0


def udp_send(src, dst, port, tos, hexes):
    af = fam_of(dst)
    s = socket.socket(af, socket.SOCK_DGRAM)
    if af == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_TCLASS, tos)
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    s.bind((src, 0))
    for hx in hexes:
        s.sendto(bytes.fromhex(hx), (dst, port))
        time.sleep(0.001)
    out({'sent': len(hexes)})
    return 0


if __name__ == '__main__':
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == 'ping':
        rc = ping(a[0], int(a[1]), int(a[2]), int(a[3]), float(a[4]) if len(a) > 4 else 2.0,
                  float(a[5]) if len(a) > 5 else 0.0)
    elif cmd == 'udp-echo':
        rc = udp_echo(a[0], int(a[1]), float(a[2]))
    elif cmd == 'udp-probe':
        rc = udp_probe(a[0], int(a[1]), [int(x) for x in a[2].split(',')], float(a[3]) if len(a) > 3 else 1.0)
    elif cmd == 'tcp-sink':
        rc = tcp_sink(a[0], int(a[1]), float(a[2]))
    elif cmd == 'tcp-source':
        rc = tcp_source(a[0], int(a[1]), a[2], float(a[3]), a[4] if len(a) > 4 else None)
    elif cmd == 'tcp-stream':
        rc = tcp_stream(a[0], int(a[1]), float(a[2]), float(a[3]), a[4] if len(a) > 4 else None)
    elif cmd == 'udp-sink':
        rc = udp_sink(a[0], int(a[1]), float(a[2]))
    elif cmd == 'udp-send':
        rc = udp_send(a[0], a[1], int(a[2]), int(a[3]), a[4:])
    else:
        sys.stderr.write('unknown command %s\n' % cmd)
        rc = 2
    sys.exit(rc)
