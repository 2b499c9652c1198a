import { describe, expect, it } from 'vitest';
import { Fdb, FDB_LOCAL, FDB_MISS, type NodeEntry } from '../../src/fdb/fdb.ts';
import { VtepError } from '../../src/util/errors.ts';

const ip4 = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);

/** 16 bytes of an IPv6 address given as 8 hex groups (no '::'), placed at `off` in a zeroed buffer. */
function ip6(groups: string, off = 0, size = off + 16): Uint8Array {
  const buf = new Uint8Array(size);
  groups.split(':').forEach((g, k) => {
    const v = parseInt(g, 16);
    buf[off + 2 * k] = v >> 8;
    buf[off + 2 * k + 1] = v & 255;
  });
  return buf;
}

const local: NodeEntry = {
  name: 'node-1',
  underlayIP: '198.51.100.1',
  vtepMAC: '02:00:00:00:00:01',
  podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
};
const peerA: NodeEntry = {
  name: 'node-2',
  underlayIP: '198.51.100.2',
  vtepMAC: '02:00:00:00:00:02',
  podCIDRs: ['10.244.2.0/24', 'fd00:10:244:2::/64'],
  underlayMAC: '52:54:00:12:34:02',
};
const peerB: NodeEntry = {
  name: 'node-3',
  underlayIP: '2001:db8:100::3',
  vtepMAC: '02:00:00:00:00:03',
  podCIDRs: ['10.244.3.0/24', 'fd00:10:244:3::/64'],
};

function expectConfigError(f: () => unknown, ...parts: string[]): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(VtepError);
  expect((err as VtepError).code).toBe('CONFIG');
  for (const p of parts) expect((err as VtepError).message).toContain(p);
}

describe('Fdb.build resolves nodes', () => {
  const fdb = Fdb.build(local, [peerA, peerB]);

  it('resolves underlay, MACs and canonical CIDRs', () => {
    expect(fdb.local.index).toBe(FDB_LOCAL);
    expect(fdb.local.family).toBe(4);
    expect(fdb.local.underlay4).toBe(0xc6336401);
    expect([...fdb.local.underlayBytes]).toEqual([198, 51, 100, 1]);
    const [a, b] = fdb.peers;
    expect(a!.index).toBe(0);
    expect(a!.name).toBe('node-2');
    expect([...a!.vtepMAC]).toEqual([2, 0, 0, 0, 0, 2]);
    expect([...a!.underlayMAC!]).toEqual([0x52, 0x54, 0, 0x12, 0x34, 2]);
    expect(a!.podCIDRs).toEqual(['10.244.2.0/24', 'fd00:10:244:2::/64']);
    expect(b!.family).toBe(6);
    expect(b!.underlay4).toBe(0);
    expect([...b!.underlayBytes]).toEqual([...ip6('2001:db8:100:0:0:0:0:3')]);
    expect(b!.underlayMAC).toBeNull();
    expect(fdb.prefixCount).toBe(6);
  });

  it('writes pod CIDRs in canonical text', () => {
    const f = Fdb.build({ ...local, podCIDRs: ['FD00:0010:0244:0001:0000::/80', '10.244.1.0/024'] }, []);
    expect(f.local.podCIDRs).toEqual(['fd00:10:244:1::/80', '10.244.1.0/24']);
  });

  it('finds peers by name', () => {
    expect(fdb.peerIndexByName('node-3')).toBe(1);
    expect(fdb.peerIndexByName('node-1')).toBe(FDB_MISS);
    expect(fdb.peerIndexByName('nope')).toBe(FDB_MISS);
  });
});

describe('lookup4', () => {
  const fdb = Fdb.build(local, [peerA, peerB]);

  it('exact /24: peer, local, miss', () => {
    expect(fdb.lookup4(ip4('10.244.2.7'))).toBe(0);
    expect(fdb.lookup4(ip4('10.244.3.0'))).toBe(1);
    expect(fdb.lookup4(ip4('10.244.3.255'))).toBe(1);
    expect(fdb.lookup4(ip4('10.244.1.9'))).toBe(FDB_LOCAL);
    expect(fdb.lookup4(ip4('10.244.4.1'))).toBe(FDB_MISS);
    expect(fdb.lookup4(ip4('10.244.0.255'))).toBe(FDB_MISS);
  });

  it('accepts the address as int32 too', () => {
    const f = Fdb.build({ ...local, podCIDRs: ['192.0.2.0/24'] }, []);
    expect(f.lookup4(ip4('192.0.2.1') | 0)).toBe(FDB_LOCAL);
  });

  it('longest prefix wins across nested prefixes of different owners', () => {
    const f = Fdb.build({ ...local, podCIDRs: ['10.244.0.0/16', '10.244.7.16/28'] }, [
      { ...peerA, podCIDRs: ['10.0.0.0/8', '10.244.7.0/24'] },
      { ...peerB, podCIDRs: ['10.244.7.20/32', '10.244.7.128/25', '0.0.0.0/0'] },
    ]);
    expect(f.lookup4(ip4('10.1.2.3'))).toBe(0); // /8
    expect(f.lookup4(ip4('10.244.9.9'))).toBe(FDB_LOCAL); // /16
    expect(f.lookup4(ip4('10.244.7.1'))).toBe(0); // /24
    expect(f.lookup4(ip4('10.244.7.16'))).toBe(FDB_LOCAL); // /28 first
    expect(f.lookup4(ip4('10.244.7.31'))).toBe(FDB_LOCAL); // /28 last
    expect(f.lookup4(ip4('10.244.7.32'))).toBe(0); // back to /24
    expect(f.lookup4(ip4('10.244.7.20'))).toBe(1); // /32 inside the /28
    expect(f.lookup4(ip4('10.244.7.19'))).toBe(FDB_LOCAL);
    expect(f.lookup4(ip4('10.244.7.21'))).toBe(FDB_LOCAL);
    expect(f.lookup4(ip4('10.244.7.127'))).toBe(0);
    expect(f.lookup4(ip4('10.244.7.128'))).toBe(1); // /25
    expect(f.lookup4(ip4('10.244.7.255'))).toBe(1);
    expect(f.lookup4(ip4('11.0.0.0'))).toBe(1); // /0
    expect(f.lookup4(0)).toBe(1);
    expect(f.lookup4(0xffffffff)).toBe(1);
  });

  it('/0 and /32 at the edges of the space', () => {
    const f = Fdb.build({ ...local, podCIDRs: ['0.0.0.0/0'] }, [
      { ...peerA, podCIDRs: ['255.255.255.255/32', '0.0.0.0/32'] },
    ]);
    expect(f.lookup4(0)).toBe(0);
    expect(f.lookup4(1)).toBe(FDB_LOCAL);
    expect(f.lookup4(0xffffffff)).toBe(0);
    expect(f.lookup4(0xfffffffe)).toBe(FDB_LOCAL);
  });

  it('empty table misses everywhere', () => {
    const f = Fdb.build({ ...local, podCIDRs: [] }, []);
    expect(f.lookup4(ip4('10.244.1.1'))).toBe(FDB_MISS);
    expect(f.lookup6(ip6('fd00:10:244:1:0:0:0:1'), 0)).toBe(FDB_MISS);
  });
});

describe('lookup6', () => {
  const fdb = Fdb.build(local, [peerA, peerB]);

  it('exact /64 at an offset inside a larger buffer', () => {
    expect(fdb.lookup6(ip6('fd00:10:244:2:0:0:0:1', 24, 64), 24)).toBe(0);
    expect(fdb.lookup6(ip6('fd00:10:244:3:ffff:ffff:ffff:ffff', 8, 40), 8)).toBe(1);
    expect(fdb.lookup6(ip6('fd00:10:244:1:0:0:0:5'), 0)).toBe(FDB_LOCAL);
    expect(fdb.lookup6(ip6('fd00:10:244:4:0:0:0:1'), 0)).toBe(FDB_MISS);
    expect(fdb.lookup6(ip6('fd00:10:245:2:0:0:0:1'), 0)).toBe(FDB_MISS);
  });

  it('longest prefix wins; /0, /127 and /128', () => {
    const f = Fdb.build({ ...local, podCIDRs: ['fd00:10:244::/48', 'fd00:10:244:1::1/128'] }, [
      { ...peerA, podCIDRs: ['::/0', 'fd00:10:244:1::/64'] },
      { ...peerB, podCIDRs: ['fd00:10:244:1::/127', 'fd00:10:244:1:8000::/65'] },
    ]);
    expect(f.lookup6(ip6('2001:db8:0:0:0:0:0:1'), 0)).toBe(0); // /0
    expect(f.lookup6(ip6('fd00:10:244:9:0:0:0:1'), 0)).toBe(FDB_LOCAL); // /48
    expect(f.lookup6(ip6('fd00:10:244:1:0:0:0:2'), 0)).toBe(0); // /64
    expect(f.lookup6(ip6('fd00:10:244:1:0:0:0:0'), 0)).toBe(1); // /127
    expect(f.lookup6(ip6('fd00:10:244:1:0:0:0:1'), 0)).toBe(FDB_LOCAL); // /128
    expect(f.lookup6(ip6('fd00:10:244:1:7fff:ffff:ffff:ffff'), 0)).toBe(0);
    expect(f.lookup6(ip6('fd00:10:244:1:8000:0:0:0'), 0)).toBe(1); // /65
    expect(f.lookup6(ip6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 0)).toBe(0);
  });
});

describe('sender lookup by underlay address', () => {
  const fdb = Fdb.build(local, [peerA, peerB]);

  it('IPv4', () => {
    expect(fdb.peerByUnderlay4(ip4('198.51.100.2'))).toBe(0);
    expect(fdb.peerByUnderlay4(ip4('198.51.100.2') | 0)).toBe(0);
    expect(fdb.peerByUnderlay4(ip4('198.51.100.3'))).toBe(FDB_MISS);
    expect(fdb.peerByUnderlay4(ip4('198.51.100.1'))).toBe(FDB_MISS); // ourselves is not a peer
    expect(fdb.peerByUnderlay4(0)).toBe(FDB_MISS);
  });

  it('IPv6 at an offset', () => {
    expect(fdb.peerByUnderlay6(ip6('2001:db8:100:0:0:0:0:3', 8, 40), 8)).toBe(1);
    expect(fdb.peerByUnderlay6(ip6('2001:db8:100:0:0:0:0:2'), 0)).toBe(FDB_MISS);
    expect(fdb.peerByUnderlay6(new Uint8Array(16), 0)).toBe(FDB_MISS);
  });

  it('many peers, with colliding slots', () => {
    const peers: NodeEntry[] = [];
    for (let i = 0; i < 300; i++) {
      peers.push({
        name: `n${i}`,
        underlayIP: i % 2 ? `198.51.100.${i >> 1}` : `2001:db8:100::${(i * 7 + 2).toString(16)}`,
        vtepMAC: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        podCIDRs: [],
      });
    }
    const f = Fdb.build({ ...local, underlayIP: '2001:db8:100::ffff' }, peers);
    for (let i = 0; i < 300; i++) {
      if (i % 2) expect(f.peerByUnderlay4(ip4(`198.51.100.${i >> 1}`))).toBe(i);
      else expect(f.peerByUnderlay6(ip6(`2001:db8:100:0:0:0:0:${(i * 7 + 2).toString(16)}`), 0)).toBe(i);
    }
    expect(f.peerByUnderlay4(ip4('198.51.100.200'))).toBe(FDB_MISS);
    expect(f.peerByUnderlay6(ip6('2001:db8:100:0:0:0:0:1'), 0)).toBe(FDB_MISS);
  });
});

describe('with / without', () => {
  const fdb = Fdb.build(local, [peerA, peerB]);

  it('adds a peer at the end; the old table is unchanged', () => {
    const c: NodeEntry = { name: 'node-4', underlayIP: '198.51.100.4', vtepMAC: '02:00:00:00:00:04', podCIDRs: ['10.244.4.0/24'] };
    const f = fdb.with(c);
    expect(f.peers.map((p) => p.name)).toEqual(['node-2', 'node-3', 'node-4']);
    expect(f.lookup4(ip4('10.244.4.1'))).toBe(2);
    expect(f.peerByUnderlay4(ip4('198.51.100.4'))).toBe(2);
    expect(f.peerIndexByName('node-4')).toBe(2);
    expect(fdb.lookup4(ip4('10.244.4.1'))).toBe(FDB_MISS);
    expect(fdb.peers.length).toBe(2);
  });

  it('replaces a peer in place (same index, new CIDRs and underlay)', () => {
    const f = fdb.with({ ...peerA, underlayIP: '198.51.100.22', podCIDRs: ['10.244.22.0/24'] });
    expect(f.peers.map((p) => p.name)).toEqual(['node-2', 'node-3']);
    expect(f.lookup4(ip4('10.244.22.1'))).toBe(0);
    expect(f.lookup4(ip4('10.244.2.1'))).toBe(FDB_MISS);
    expect(f.peerByUnderlay4(ip4('198.51.100.22'))).toBe(0);
    expect(f.peerByUnderlay4(ip4('198.51.100.2'))).toBe(FDB_MISS);
    expect(f.lookup6(ip6('fd00:10:244:2:0:0:0:1'), 0)).toBe(FDB_MISS);
    expect(fdb.lookup4(ip4('10.244.2.1'))).toBe(0);
  });

  it('a replacement may take over a CIDR it owned before', () => {
    const f = fdb.with({ ...peerA, vtepMAC: '02:00:00:00:00:99' });
    expect([...f.peers[0]!.vtepMAC]).toEqual([2, 0, 0, 0, 0, 0x99]);
    expect(f.lookup4(ip4('10.244.2.1'))).toBe(0);
  });

  it('removes a peer; later peers move down', () => {
    const f = fdb.without('node-2');
    expect(f.peers.map((p) => [p.name, p.index])).toEqual([['node-3', 0]]);
    expect(f.lookup4(ip4('10.244.2.1'))).toBe(FDB_MISS);
    expect(f.lookup4(ip4('10.244.3.1'))).toBe(0);
    expect(f.peerByUnderlay6(ip6('2001:db8:100:0:0:0:0:3'), 0)).toBe(0);
    expect(f.peerByUnderlay4(ip4('198.51.100.2'))).toBe(FDB_MISS);
    expect(f.peerIndexByName('node-3')).toBe(0);
    expect(f.prefixCount).toBe(4);
    expect(fdb.peers[0]!.index).toBe(0);
    expect(fdb.peers[1]!.index).toBe(1);
  });

  it('rejects the local node and unknown names', () => {
    expectConfigError(() => fdb.with({ ...local }), '"node-1"', 'local node');
    expectConfigError(() => fdb.without('node-9'), '"node-9"', 'no such peer');
  });

  it('validates the new entry against the others', () => {
    expectConfigError(() => fdb.with({ ...peerA, name: 'node-5' }), '"node-5"', '198.51.100.2', '"node-2"');
    expectConfigError(
      () => fdb.with({ ...peerA, name: 'node-5', underlayIP: '198.51.100.5', podCIDRs: ['10.244.1.0/24'] }),
      '"node-5"',
      '10.244.1.0/24',
      '"node-1"',
    );
  });
});

describe('config errors name the node and the value', () => {
  it('duplicate names', () => {
    expectConfigError(() => Fdb.build(local, [peerA, { ...peerB, name: 'node-2' }]), '"node-2"', 'twice');
    expectConfigError(() => Fdb.build(local, [{ ...peerA, name: 'node-1' }]), '"node-1"', 'local node');
  });

  it('duplicate underlay IPs, also written differently', () => {
    expectConfigError(() => Fdb.build(local, [{ ...peerA, underlayIP: '198.51.100.1' }]), '"node-2"', '198.51.100.1', '"node-1"');
    expectConfigError(
      () => Fdb.build(local, [peerB, { ...peerA, underlayIP: '2001:DB8:100:0:0::3' }]),
      '"node-2"',
      '2001:db8:100::3',
      '"node-3"',
    );
  });

  it('a pod CIDR owned by two nodes, or listed twice', () => {
    expectConfigError(
      () => Fdb.build(local, [{ ...peerA, podCIDRs: ['10.244.1.0/24'] }]),
      '"node-2"',
      '10.244.1.0/24',
      '"node-1"',
    );
    expectConfigError(
      () => Fdb.build(local, [peerA, { ...peerB, podCIDRs: ['FD00:10:244:2:0::/64'] }]),
      '"node-3"',
      'fd00:10:244:2::/64',
      '"node-2"',
    );
    expectConfigError(() => Fdb.build(local, [{ ...peerA, podCIDRs: ['10.9.0.0/16', '10.9.0.0/16'] }]), '"node-2"', '10.9.0.0/16', 'twice');
  });

  it('host bits set', () => {
    expectConfigError(() => Fdb.build(local, [{ ...peerA, podCIDRs: ['10.244.1.5/24'] }]), '"node-2"', '10.244.1.5/24', '10.244.1.0/24');
    expectConfigError(
      () => Fdb.build(local, [{ ...peerA, podCIDRs: ['fd00:10:244:2::1/64'] }]),
      '"node-2"',
      'fd00:10:244:2::1/64',
      'fd00:10:244:2::/64',
    );
  });

  it('invalid text', () => {
    const bad = (e: Partial<NodeEntry>) => () => Fdb.build(local, [{ ...peerA, ...e }]);
    expectConfigError(bad({ podCIDRs: ['10.244.2.0/33'] }), '"node-2"', '10.244.2.0/33');
    expectConfigError(bad({ podCIDRs: ['10.244.2.0'] }), '"node-2"', '"10.244.2.0"');
    expectConfigError(bad({ podCIDRs: ['10.244.256.0/24'] }), '"node-2"', '10.244.256.0/24');
    expectConfigError(bad({ podCIDRs: ['fd00::/129'] }), '"node-2"', 'fd00::/129');
    expectConfigError(bad({ podCIDRs: ['fd00::%eth0/64'] }), '"node-2"', 'fd00::%eth0/64');
    expectConfigError(bad({ podCIDRs: ['fd00:::/64'] }), '"node-2"', 'fd00:::/64');
    expectConfigError(bad({ underlayIP: '198.51.100' }), '"node-2"', '198.51.100');
    expectConfigError(bad({ underlayIP: 'fe80::1%eth0' }), '"node-2"', 'fe80::1%eth0');
    expectConfigError(bad({ underlayIP: 'node-2.example' }), '"node-2"', 'node-2.example');
    expectConfigError(bad({ underlayIP: '0.0.0.0' }), '"node-2"', '0.0.0.0', 'unicast');
    expectConfigError(bad({ underlayIP: '239.1.1.1' }), '"node-2"', '239.1.1.1', 'unicast');
    expectConfigError(bad({ underlayIP: 'ff02::1' }), '"node-2"', 'ff02::1', 'unicast');
    expectConfigError(bad({ vtepMAC: '02:00:00:00:00' }), '"node-2"', 'vtepMAC', '02:00:00:00:00');
    expectConfigError(bad({ vtepMAC: '02-00-00-00-00-02' }), '"node-2"', 'vtepMAC', '02-00-00-00-00-02');
    expectConfigError(bad({ vtepMAC: '03:00:00:00:00:02' }), '"node-2"', 'vtepMAC', 'multicast');
    expectConfigError(bad({ vtepMAC: '00:00:00:00:00:00' }), '"node-2"', 'vtepMAC', 'all-zero');
    expectConfigError(bad({ underlayMAC: 'zz:00:00:00:00:02' }), '"node-2"', 'underlayMAC', 'zz:00:00:00:00:02');
    expectConfigError(() => Fdb.build({ ...local, name: '' }, []), 'name');
  });
});
