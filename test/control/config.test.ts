import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as yamlParse, stringify } from 'yaml';
import { loadConfig, MAX_PROBLEMS, parseConfig, tunnelOverhead } from '../../src/control/config.ts';
import { editDistance, formatIPv6, nearest, parseCIDR, parseIP } from '../../src/control/config-values.ts';
import { defaultEngineOptions } from '../../src/engine/options.ts';
import { VtepError } from '../../src/util/errors.ts';

type Doc = Record<string, any>;

const dir = mkdtempSync(join(tmpdir(), 'vtep-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minimal valid config (IPv4 underlay, one peer) as a plain object; tests mutate a fresh copy. */
function base(): Doc {
  return {
    node: { name: 'n1', underlayIP: '198.51.100.1', vtepMAC: '02:00:00:00:00:01', podCIDRs: ['10.244.1.0/24'] },
    peers: [{ name: 'n2', underlayIP: '198.51.100.2', vtepMAC: '02:00:00:00:00:02', podCIDRs: ['10.244.2.0/24'] }],
  };
}

function build(edit: (d: Doc) => void): string {
  const d = base();
  edit(d);
  return stringify(d);
}

/** The problem lines of a config that must fail, checking the error's class and code. */
function problems(text: string, file = 'node.yaml'): string[] {
  let err: unknown;
  try {
    parseConfig(text, file);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a config error').toBeInstanceOf(VtepError);
  expect((err as VtepError).code).toBe('CONFIG');
  return (err as VtepError).message.split('\n');
}

/** The config must fail with exactly this one problem line. */
function expectOnly(text: string, line: string): void {
  expect(problems(text)).toEqual([line]);
}

describe('valid configs', () => {
  it('fills every default from a minimal config', () => {
    const c = parseConfig(stringify({ node: base().node }), 'node.yaml');
    expect(c.file).toBe('node.yaml');
    expect(c.backend).toBe('vxlan');
    expect(c.engine).toEqual(defaultEngineOptions());
    // spelled out, so a change to defaultEngineOptions() cannot silently change the documented defaults
    expect(c.engine).toMatchObject({
      backend: 'vxlan', vni: 1, port: 4789, srcPortMin: 32768, srcPortMax: 60999, ttl: 64, tos: 'inherit', df: 'unset',
      udpChecksum: true, udp6ZeroChecksumTx: false, udp6ZeroChecksumRx: false, verifyUdpChecksum: true, underlayMTU: 1500,
    });
    expect([...c.engine.underlaySrcMAC]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...c.engine.underlayDstMAC]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(c.node).toEqual({ name: 'n1', underlayIP: '198.51.100.1', vtepMAC: '02:00:00:00:00:01', podCIDRs: ['10.244.1.0/24'] });
    expect('underlayMAC' in c.node).toBe(false);
    expect(c.peers).toEqual([]);
    expect(c.tun).toEqual({ name: 'vtep0', mtu: 1450, txqueuelen: 10000 });
  });

  it('accepts empty sections and an empty peers list as all defaults', () => {
    const text = `${stringify({ node: base().node })}vxlan:\nunderlay: {}\ntun:\npeers:\n`;
    const c = parseConfig(text, 'node.yaml');
    expect(c.engine).toEqual(defaultEngineOptions());
    expect(c.peers).toEqual([]);
    expect(c.tun).toEqual({ name: 'vtep0', mtu: 1450, txqueuelen: 10000 });
  });

  const FULL = `# every key, none at its default
backend: vxlan
vxlan:
  vni: 16777215
  port: 8472
  srcPortRange: [40000, 40100]
  udpChecksum: false
  udp6ZeroChecksumTx: false
  udp6ZeroChecksumRx: false
  verifyUdpChecksum: false
underlay:
  mtu: 9000
  ttl: inherit
  tos: 184
  df: inherit
node:
  name: n1
  underlayIP: 198.51.100.1
  vtepMAC: "02:00:00:00:00:01"
  underlayMAC: "02:00:00:AA:00:01"
  podCIDRs: [10.244.1.0/24, "FD00:10:244:1:0::/64"]
peers:
  - name: n2
    underlayIP: 198.51.100.2
    vtepMAC: "02:00:00:00:00:02"
    underlayMAC: "02:00:00:aa:00:02"
    podCIDRs: [10.244.2.0/24]
  - name: n3
    underlayIP: 198.51.100.3
    vtepMAC: "0A:00:00:00:00:03"
    podCIDRs: [10.244.3.0/24, fd00:10:244:3::/64]
tun:
  name: vtep-test
  mtu: 8900
  txqueuelen: 500
`;

  it('parses a full config with every key set', () => {
    const c = parseConfig(FULL, 'full.yaml');
    expect(c.backend).toBe('vxlan');
    expect(c.engine).toEqual({
      backend: 'vxlan', vni: 16777215, port: 8472, srcPortMin: 40000, srcPortMax: 40100, ttl: 0, tos: 184, df: 'inherit',
      udpChecksum: false, udp6ZeroChecksumTx: false, udp6ZeroChecksumRx: false, verifyUdpChecksum: false, underlayMTU: 9000,
      underlaySrcMAC: Uint8Array.of(0x02, 0, 0, 0xaa, 0, 0x01),
      underlayDstMAC: new Uint8Array(6),
    });
    expect(c.node).toEqual({
      name: 'n1', underlayIP: '198.51.100.1', vtepMAC: '02:00:00:00:00:01', underlayMAC: '02:00:00:aa:00:01',
      podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
    });
    expect(c.peers).toEqual([
      { name: 'n2', underlayIP: '198.51.100.2', vtepMAC: '02:00:00:00:00:02', underlayMAC: '02:00:00:aa:00:02', podCIDRs: ['10.244.2.0/24'] },
      { name: 'n3', underlayIP: '198.51.100.3', vtepMAC: '0a:00:00:00:00:03', podCIDRs: ['10.244.3.0/24', 'fd00:10:244:3::/64'] },
    ]);
    expect(c.tun).toEqual({ name: 'vtep-test', mtu: 8900, txqueuelen: 500 });
  });

  it('round-trips: the parsed config written back as YAML parses to the same config', () => {
    const c = parseConfig(FULL, 'full.yaml');
    const back = {
      backend: c.backend,
      vxlan: {
        vni: c.engine.vni, port: c.engine.port, srcPortRange: [c.engine.srcPortMin, c.engine.srcPortMax],
        udpChecksum: c.engine.udpChecksum, udp6ZeroChecksumTx: c.engine.udp6ZeroChecksumTx,
        udp6ZeroChecksumRx: c.engine.udp6ZeroChecksumRx, verifyUdpChecksum: c.engine.verifyUdpChecksum,
      },
      underlay: { mtu: c.engine.underlayMTU, ttl: c.engine.ttl === 0 ? 'inherit' : c.engine.ttl, tos: c.engine.tos, df: c.engine.df },
      node: c.node,
      peers: c.peers,
      tun: c.tun,
    };
    expect(parseConfig(stringify(back), 'full.yaml')).toEqual(c);
  });

  it('parses an IPv6-underlay config and canonicalises addresses (RFC 5952)', () => {
    const text = `
node:
  name: n1
  underlayIP: 2001:DB8:100:0:0:0:0:1
  vtepMAC: "02:00:00:00:00:01"
  podCIDRs: ["FD00:0010:0244:0001:0000:0000:0000:0000/64", 10.244.1.0/24]
peers:
  - name: n2
    underlayIP: "2001:db8:100::2"
    vtepMAC: "02:00:00:00:00:02"
    podCIDRs: [fd00:10:244:2::/64]
vxlan:
  udp6ZeroChecksumTx: true
  udp6ZeroChecksumRx: true
underlay:
  mtu: 1500
`;
    const c = parseConfig(text, 'v6.yaml');
    expect(c.node.underlayIP).toBe('2001:db8:100::1');
    expect(c.node.podCIDRs).toEqual(['fd00:10:244:1::/64', '10.244.1.0/24']);
    expect(c.peers[0]!.underlayIP).toBe('2001:db8:100::2');
    expect(c.engine.udp6ZeroChecksumTx).toBe(true);
    expect(c.engine.udp6ZeroChecksumRx).toBe(true);
    expect(c.engine.udpChecksum).toBe(true);
    expect(c.tun.mtu).toBe(1430);
  });

  it('parses an ipip config', () => {
    const c = parseConfig(build((d) => { d.backend = 'ipip'; d.underlay = { ttl: 32, df: 'set' }; }), 'ipip.yaml');
    expect(c.backend).toBe('ipip');
    expect(c.engine.backend).toBe('ipip');
    expect(c.engine.ttl).toBe(32);
    expect(c.engine.df).toBe('set');
    expect(c.tun.mtu).toBe(1480);
    expect(c.peers.map((p) => p.name)).toEqual(['n2']);
  });

  it.each([
    ['vxlan', 'v4', 1500, 1450],
    ['vxlan', 'v6', 1500, 1430],
    ['ipip', 'v4', 1500, 1480],
    ['ipip', 'v6', 1500, 1460],
    ['vxlan', 'v4', 9000, 8950],
    ['vxlan', 'v6', 9000, 8930],
    ['ipip', 'v4', 576, 556],
    ['ipip', 'v6', 1280, 1240],
  ] as const)('tun.mtu auto: %s over %s, underlay.mtu %i → %i', (backend, fam, underlayMTU, want) => {
    const text = build((d) => {
      d.backend = backend;
      d.underlay = { mtu: underlayMTU };
      if (fam === 'v6') {
        d.node.underlayIP = '2001:db8:100::1';
        d.peers[0].underlayIP = '2001:db8:100::2';
      }
    });
    const c = parseConfig(text, 'node.yaml');
    expect(c.tun.mtu).toBe(want);
    expect(c.tun.mtu).toBe(underlayMTU - tunnelOverhead(backend, fam === 'v4' ? 4 : 6));
    // "auto" written out gives the same; the auto value itself is accepted as a number, one more is not
    const withTun = (mtu: number | string) => stringify({ ...(yamlParse(text) as Doc), tun: { mtu } });
    expect(parseConfig(withTun('auto'), 'x').tun.mtu).toBe(want);
    expect(parseConfig(withTun(want), 'x').tun.mtu).toBe(want);
    expect(problems(withTun(want + 1))[0]).toMatch(
      new RegExp(`^node\\.yaml: tun\\.mtu: ${want + 1} exceeds ${want}, `),
    );
  });

  it('accepts a smaller tun.mtu', () => {
    expect(parseConfig(build((d) => { d.tun = { mtu: 1400 }; }), 'x').tun.mtu).toBe(1400);
  });

  it('loadConfig reads a file and names it in errors', () => {
    const f = join(dir, 'node.yaml');
    writeFileSync(f, build(() => {}));
    const c = loadConfig(f);
    expect(c.file).toBe(f);
    expect(c.peers[0]!.name).toBe('n2');
    writeFileSync(f, build((d) => { d.vxlan = { vni: -1 }; }));
    expect(() => loadConfig(f)).toThrow(`${f}: vxlan.vni: -1 is out of range 0..16777215`);
  });
});


describe('file errors', () => {
  it('unreadable file → <file>: cannot read: ENOENT', () => {
    const f = join(dir, 'missing.yaml');
    expect(() => loadConfig(f)).toThrow(new VtepError('CONFIG', `${f}: cannot read: ENOENT`));
    try {
      loadConfig(f);
    } catch (e) {
      expect((e as VtepError).code).toBe('CONFIG');
    }
  });

  it('a directory → cannot read: EISDIR', () => {
    expect(() => loadConfig(dir)).toThrow(`${dir}: cannot read: EISDIR`);
  });

  it('invalid UTF-8 → cannot read: not valid UTF-8', () => {
    const f = join(dir, 'latin1.yaml');
    writeFileSync(f, Buffer.from([0x6e, 0x6f, 0x64, 0x65, 0x3a, 0x20, 0xe9, 0x0a]));
    expect(() => loadConfig(f)).toThrow(`${f}: cannot read: not valid UTF-8`);
  });
});

describe('YAML errors carry file:line:col', () => {
  it('syntax error', () => {
    expectOnly('node:\n  name: n1\n  podCIDRs: [10.244.1.0/24\n', 'node.yaml:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]');
  });
  it('duplicate key', () => {
    expectOnly('backend: vxlan\nnode: {}\nbackend: ipip\n', 'node.yaml:3:1: Map keys must be unique');
  });
  it('tab indentation', () => {
    expect(problems('node:\n\tname: n1\n')[0]).toMatch(/^node\.yaml:2:1: Tabs are not allowed as indentation/);
  });
  it('several documents', () => {
    expect(problems('node: {}\n---\npeers: []\n')[0]).toMatch(/^node\.yaml:2:1: Source contains multiple documents/);
  });
  it('unknown tag', () => {
    expectOnly('backend: !custom vxlan\n', 'node.yaml:1:10: Unresolved tag: !custom');
  });
  it('unresolved alias', () => {
    expect(problems('backend: *nope\n')[0]).toMatch(/^node\.yaml(:\d+:\d+)?: .*[Aa]lias.*nope/);
  });
  it('empty file', () => {
    expectOnly('# nothing\n', 'node.yaml: is empty; a mapping with at least a node: section is required');
  });
  it('top level not a mapping', () => {
    expectOnly('- node\n', 'node.yaml: (top level): ["node"] must be a mapping, not a list');
  });
});

describe('validation errors name file, key path and value', () => {
  it('the brief example: host bits set in a peer pod CIDR', () => {
    const text = build((d) => {
      d.peers.push({ name: 'n3', underlayIP: '198.51.100.3', vtepMAC: '02:00:00:00:00:03', podCIDRs: ['10.244.3.5/24'] });
    });
    expectOnly(text, 'node.yaml: peers[1].podCIDRs[0]: "10.244.3.5/24" has host bits set (did you mean 10.244.3.0/24?)');
    expectOnly(
      build((d) => { d.node.podCIDRs = ['fd00:10:244:1::1/64']; }),
      'node.yaml: node.podCIDRs[0]: "fd00:10:244:1::1/64" has host bits set (did you mean fd00:10:244:1::/64?)',
    );
  });

  it('uses the file name it is given', () => {
    expect(problems(build((d) => { d.vxlan = { vni: 16777216 }; }), '/etc/vtep/n1.yaml')).toEqual([
      '/etc/vtep/n1.yaml: vxlan.vni: 16777216 is out of range 0..16777215',
    ]);
  });

  it('unknown keys, with did-you-mean for near misses', () => {
    expectOnly(build((d) => { d.peer = []; }), 'node.yaml: peer: unknown key (did you mean peers?)');
    expectOnly(build((d) => { d.vxlan = { prot: 4789 }; }), 'node.yaml: vxlan.prot: unknown key (did you mean port?)');
    expectOnly(build((d) => { d.tun = { nmae: 'x' }; }), 'node.yaml: tun.nmae: unknown key (did you mean name?)');
    // the misspelt key is unknown, and the real one is then missing: both are reported
    expect(problems(build((d) => { d.peers[0].podCidrs = d.peers[0].podCIDRs; delete d.peers[0].podCIDRs; }))).toEqual([
      'node.yaml: peers[0].podCidrs: unknown key (did you mean podCIDRs?)',
      'node.yaml: peers[0].podCIDRs: is required (a list of at least one pod CIDR, e.g. [10.244.1.0/24])',
    ]);
  });

  it('unknown keys far from any known one list the choices', () => {
    expectOnly(build((d) => { d.underlay = { flowlabel: 1 }; }), 'node.yaml: underlay.flowlabel: unknown key (expected one of: mtu, ttl, tos, df)');
  });

  it('missing node and missing node fields', () => {
    expectOnly(stringify({ peers: [] }), 'node.yaml: node: is required (this node: name, underlayIP, vtepMAC, podCIDRs)');
    expectOnly(build((d) => { delete d.node.vtepMAC; }), 'node.yaml: node.vtepMAC: is required (the MAC of the node\'s VTEP device, e.g. "02:00:00:00:00:01")');
    expectOnly(build((d) => { d.peers[0].podCIDRs = []; }), 'node.yaml: peers[0].podCIDRs: must list at least one pod CIDR');
  });

  it('wrong types', () => {
    expectOnly(build((d) => { d.vxlan = { vni: '1' }; }), 'node.yaml: vxlan.vni: "1" must be an integer, not a string');
    expectOnly(build((d) => { d.vxlan = { udpChecksum: 'yes' }; }), 'node.yaml: vxlan.udpChecksum: "yes" must be true or false, not a string');
    expectOnly(build((d) => { d.node.name = 7; }), 'node.yaml: node.name: 7 must be a string, not an integer (quote it)');
    expectOnly(build((d) => { d.peers = { n2: {} }; }), 'node.yaml: peers: {"n2":{}} must be a list, not a mapping');
    expectOnly(build((d) => { d.node.podCIDRs = '10.244.1.0/24'; }), 'node.yaml: node.podCIDRs: "10.244.1.0/24" must be a list, not a string (write [10.244.1.0/24])');
    expectOnly(build((d) => { d.underlay = 1500; }), 'node.yaml: underlay: 1500 must be a mapping, not an integer');
    expectOnly(build((d) => { d.underlay = { mtu: 1499.5 }; }), 'node.yaml: underlay.mtu: 1499.5 must be an integer, not a number');
  });

  it('a key with no value', () => {
    expectOnly(`${build(() => {})}vxlan:\n  vni:\n`, 'node.yaml: vxlan.vni: has no value (remove the key to use the default, 1)');
    expectOnly(`${build(() => {})}vxlan:\n  srcPortRange:\n`, 'node.yaml: vxlan.srcPortRange: has no value (remove the key to use the default, [32768, 60999])');
    expectOnly(`${build(() => {})}tun:\n  mtu:\n`, 'node.yaml: tun.mtu: has no value (remove the key to use the default, auto)');
    expectOnly(build((d) => { d.peers[0].underlayMAC = null; }), 'node.yaml: peers[0].underlayMAC: has no value (remove the key to use the default, none)');
    expectOnly(build((d) => { d.peers[0].name = null; }), 'node.yaml: peers[0].name: is required (the node name)');
  });

  it('numbers out of range', () => {
    expectOnly(build((d) => { d.vxlan = { port: 0 }; }), 'node.yaml: vxlan.port: 0 is out of range 1..65535');
    expectOnly(build((d) => { d.underlay = { mtu: 575 }; }), 'node.yaml: underlay.mtu: 575 is out of range 576..65535');
    expectOnly(build((d) => { d.underlay = { ttl: 0 }; }), 'node.yaml: underlay.ttl: 0 is out of range 1..255 or inherit');
    expectOnly(build((d) => { d.underlay = { tos: 256 }; }), 'node.yaml: underlay.tos: 256 is out of range 0..255 or inherit');
    expectOnly(build((d) => { d.tun = { txqueuelen: -1 }; }), 'node.yaml: tun.txqueuelen: -1 is out of range 0..4294967295');
    expectOnly(build((d) => { d.tun = { mtu: 67 }; }), 'node.yaml: tun.mtu: 67 is out of range 68..65535 or auto');
  });

  it('enumerations, with did-you-mean', () => {
    expectOnly(build((d) => { d.backend = 'gre'; }), 'node.yaml: backend: "gre" must be one of vxlan, ipip');
    expectOnly(build((d) => { d.backend = 'VXLAN'; }), 'node.yaml: backend: "VXLAN" must be one of vxlan, ipip (did you mean vxlan?)');
    expectOnly(build((d) => { d.underlay = { df: 'sett' }; }), 'node.yaml: underlay.df: "sett" must be one of unset, set, inherit (did you mean set?)');
    expectOnly(build((d) => { d.underlay = { ttl: 'inherti' }; }), 'node.yaml: underlay.ttl: "inherti" must be 1..255 or inherit (did you mean inherit?)');
    expectOnly(build((d) => { d.tun = { mtu: 'Auto' }; }), 'node.yaml: tun.mtu: "Auto" must be 68..65535 or auto (did you mean auto?)');
  });

  it('srcPortRange', () => {
    expectOnly(build((d) => { d.vxlan = { srcPortRange: [61000, 60000] }; }), 'node.yaml: vxlan.srcPortRange: [61000,60000] has low > high (the range is [low, high], inclusive)');
    expectOnly(build((d) => { d.vxlan = { srcPortRange: [1, 2, 3] }; }), 'node.yaml: vxlan.srcPortRange: [1,2,3] must be a list [low, high] of two ports');
    expectOnly(build((d) => { d.vxlan = { srcPortRange: [0, 10] }; }), 'node.yaml: vxlan.srcPortRange[0]: 0 is out of range 1..65535');
  });

  it('bad addresses', () => {
    expectOnly(build((d) => { d.peers[0].underlayIP = '198.51.100.256'; }), 'node.yaml: peers[0].underlayIP: "198.51.100.256" is not a valid IPv4 or IPv6 address');
    expectOnly(build((d) => { d.peers[0].underlayIP = '198.51.100.2/24'; }), 'node.yaml: peers[0].underlayIP: "198.51.100.2/24" is a CIDR; an address without a prefix is expected');
    expectOnly(build((d) => { d.peers[0].underlayIP = '239.1.1.1'; }), 'node.yaml: peers[0].underlayIP: "239.1.1.1" is a multicast address; a unicast node address is required');
    expectOnly(build((d) => { d.node.underlayIP = '0.0.0.0'; }), 'node.yaml: node.underlayIP: "0.0.0.0" is the unspecified address; a node address is required');
    expectOnly(build((d) => { d.node.underlayIP = '255.255.255.255'; }), 'node.yaml: node.underlayIP: "255.255.255.255" is the broadcast address; a unicast node address is required');
    const v6 = (ip: string) => build((d) => { d.node.underlayIP = ip; d.peers[0].underlayIP = '2001:db8:100::2'; });
    expectOnly(v6('fe80::1%eth0'), 'node.yaml: node.underlayIP: "fe80::1%eth0" has a zone index; a global address without %zone is expected');
    expectOnly(v6('2001:db8::1::2'), 'node.yaml: node.underlayIP: "2001:db8::1::2" is not a valid IPv6 address');
    expectOnly(v6('ff02::1'), 'node.yaml: node.underlayIP: "ff02::1" is a multicast address; a unicast node address is required');
    expectOnly(v6('::ffff:198.51.100.1'), 'node.yaml: node.underlayIP: "::ffff:198.51.100.1" is an IPv4-mapped IPv6 address; write the IPv4 address instead');
  });

  it('bad CIDRs', () => {
    expectOnly(build((d) => { d.node.podCIDRs = ['10.244.1.0/33']; }), 'node.yaml: node.podCIDRs[0]: "10.244.1.0/33" has an invalid prefix length "/33" (IPv4: 0..32)');
    expectOnly(build((d) => { d.node.podCIDRs = ['fd00::/129']; }), 'node.yaml: node.podCIDRs[0]: "fd00::/129" has an invalid prefix length "/129" (IPv6: 0..128)');
    expectOnly(build((d) => { d.node.podCIDRs = ['10.244.1.0']; }), 'node.yaml: node.podCIDRs[0]: "10.244.1.0" is not a CIDR (expected address/prefix, e.g. 10.244.1.0/24)');
    expectOnly(build((d) => { d.node.podCIDRs = ['10.244.1/24']; }), 'node.yaml: node.podCIDRs[0]: "10.244.1/24" is not a CIDR: address not a valid IPv4 or IPv6 address');
    expectOnly(build((d) => { d.node.podCIDRs = ['10.244.1.0/2x']; }), 'node.yaml: node.podCIDRs[0]: "10.244.1.0/2x" has an invalid prefix length "/2x" (IPv4: 0..32)');
  });

  it('bad MACs', () => {
    expectOnly(build((d) => { d.node.vtepMAC = '02:00:00:00:00'; }), 'node.yaml: node.vtepMAC: "02:00:00:00:00" is not a MAC address (expected six colon-separated hex pairs, e.g. "02:00:00:00:00:01")');
    expectOnly(build((d) => { d.node.vtepMAC = '01:00:5e:00:00:01'; }), 'node.yaml: node.vtepMAC: "01:00:5e:00:00:01" is a multicast MAC (low bit of the first octet set); a unicast MAC is required');
    expectOnly(build((d) => { d.peers[0].vtepMAC = 'FF:FF:FF:FF:FF:FF'; }), 'node.yaml: peers[0].vtepMAC: "FF:FF:FF:FF:FF:FF" is the broadcast MAC; a unicast MAC is required');
    expectOnly(build((d) => { d.peers[0].underlayMAC = '00:00:00:00:00:00'; }), 'node.yaml: peers[0].underlayMAC: "00:00:00:00:00:00" is the all-zero MAC; a unicast MAC is required');
    expectOnly(build((d) => { d.node.underlayMAC = '33:33:00:00:00:01'; }), 'node.yaml: node.underlayMAC: "33:33:00:00:00:01" is a multicast MAC (low bit of the first octet set); a unicast MAC is required');
  });

  it('peers in another underlay family', () => {
    expectOnly(
      build((d) => { d.peers[0].underlayIP = '2001:DB8:100::2'; }),
      'node.yaml: peers[0].underlayIP: "2001:db8:100::2" is IPv6 but node.underlayIP "198.51.100.1" is IPv4; all nodes must share one underlay family',
    );
  });

  it('duplicate names, underlay IPs and VTEP MACs (compared canonically)', () => {
    const dup = (edit: (p: Doc) => void) =>
      build((d) => {
        const p = { name: 'n3', underlayIP: '198.51.100.3', vtepMAC: '02:00:00:00:00:03', podCIDRs: ['10.244.3.0/24'] };
        edit(p);
        d.peers.push(p);
      });
    expectOnly(dup((p) => { p.name = 'n1'; }), 'node.yaml: peers[1].name: "n1" is already used by node');
    expectOnly(dup((p) => { p.underlayIP = '198.51.100.2'; }), 'node.yaml: peers[1].underlayIP: "198.51.100.2" is already used by peers[0] (n2)');
    expectOnly(
      build((d) => {
        d.peers[0].vtepMAC = '02:00:00:00:00:0a';
        d.peers.push({ name: 'n3', underlayIP: '198.51.100.3', vtepMAC: '02:00:00:00:00:0A', podCIDRs: ['10.244.3.0/24'] });
      }),
      'node.yaml: peers[1].vtepMAC: "02:00:00:00:00:0a" is already used by peers[0] (n2)',
    );
    expectOnly(
      build((d) => {
        d.node.underlayIP = '2001:db8:100::1';
        d.peers[0].underlayIP = '2001:db8:100::2';
        d.peers.push({ name: 'n3', underlayIP: '2001:DB8:100:0::0:2', vtepMAC: '02:00:00:00:00:03', podCIDRs: ['10.244.3.0/24'] });
      }),
      'node.yaml: peers[1].underlayIP: "2001:db8:100::2" is already used by peers[0] (n2)',
    );
  });

  it('pod CIDRs owned by two nodes, and overlaps within one node', () => {
    expectOnly(
      build((d) => { d.peers[0].podCIDRs = ['10.244.2.0/24', '10.244.1.128/25']; }),
      'node.yaml: peers[0].podCIDRs[1]: "10.244.1.128/25" (n2) overlaps node.podCIDRs[0] "10.244.1.0/24" (n1); a pod CIDR must belong to one node',
    );
    // the wider CIDR later in the file: reported at the later one, naming the earlier
    expectOnly(
      build((d) => { d.peers[0].podCIDRs = ['10.244.0.0/16']; }),
      'node.yaml: peers[0].podCIDRs[0]: "10.244.0.0/16" (n2) overlaps node.podCIDRs[0] "10.244.1.0/24" (n1); a pod CIDR must belong to one node',
    );
    expectOnly(
      build((d) => { d.peers[0].podCIDRs = ['fd00:10:244:2::/64', '10.244.2.0/24', 'fd00:10:244:2:8000::/65']; }),
      'node.yaml: peers[0].podCIDRs[2]: "fd00:10:244:2:8000::/65" (n2) overlaps peers[0].podCIDRs[0] "fd00:10:244:2::/64" in the same node',
    );
    expectOnly(
      build((d) => { d.peers[0].podCIDRs = ['10.244.2.0/24', '10.244.2.0/24']; }),
      'node.yaml: peers[0].podCIDRs[1]: "10.244.2.0/24" (n2) overlaps peers[0].podCIDRs[0] "10.244.2.0/24" in the same node',
    );
  });

  it('a vxlan section with backend ipip', () => {
    expectOnly(build((d) => { d.backend = 'ipip'; d.vxlan = { vni: 1 }; }), 'node.yaml: vxlan: only valid with backend: vxlan (backend is ipip; remove the vxlan: section)');
  });

  it('IPv6 pod CIDRs are fine with backend ipip (protocol 41)', () => {
    const c = parseConfig(build((d) => { d.backend = 'ipip'; d.peers[0].podCIDRs.push('fd00:10:244:2::/64'); }), 'x');
    expect(c.peers[0]!.podCIDRs).toEqual(['10.244.2.0/24', 'fd00:10:244:2::/64']);
    expect(c.tun.mtu).toBe(1480);
  });

  it('tun.mtu larger than auto', () => {
    expectOnly(
      build((d) => { d.underlay = { mtu: 9000 }; d.tun = { mtu: 9000 }; }),
      'node.yaml: tun.mtu: 9000 exceeds 8950, the largest that fits (underlay.mtu 9000 − 50 for vxlan over IPv4); use auto or raise underlay.mtu',
    );
  });

  it('a TUN MTU below 1280 with IPv6 pods', () => {
    const v6 = (edit: (d: Doc) => void) =>
      build((d) => {
        d.node.underlayIP = '2001:db8:100::1';
        d.peers[0].underlayIP = '2001:db8:100::2';
        d.peers[0].podCIDRs.push('fd00:10:244:2::/64');
        edit(d);
      });
    expectOnly(
      v6((d) => { d.underlay = { mtu: 1300 }; }),
      'node.yaml: tun.mtu: auto = 1230 (underlay.mtu 1300 − 70 for vxlan over IPv6) is below 1280, the IPv6 minimum link MTU, and IPv6 pod CIDRs are configured; raise underlay.mtu to at least 1350',
    );
    expectOnly(v6((d) => { d.tun = { mtu: 1200 }; }), 'node.yaml: tun.mtu: 1200 is below 1280, the IPv6 minimum link MTU, and IPv6 pod CIDRs are configured');
    expect(parseConfig(v6((d) => { d.underlay = { mtu: 1350 }; }), 'x').tun.mtu).toBe(1280);
  });

  it('underlay.mtu below 1280 over IPv6', () => {
    expectOnly(
      build((d) => { d.node.underlayIP = '2001:db8:100::1'; d.peers[0].underlayIP = '2001:db8:100::2'; d.underlay = { mtu: 1279 }; }),
      'node.yaml: underlay.mtu: 1279 is below 1280, the IPv6 minimum (node.underlayIP is IPv6)',
    );
  });

  it('options that do nothing in the underlay family', () => {
    const v6 = (edit: (d: Doc) => void) =>
      build((d) => { d.node.underlayIP = '2001:db8:100::1'; d.peers[0].underlayIP = '2001:db8:100::2'; edit(d); });
    expectOnly(v6((d) => { d.underlay = { df: 'set' }; }), 'node.yaml: underlay.df: "set" only applies to an IPv4 underlay (node.underlayIP is IPv6; IPv6 routers never fragment)');
    expectOnly(v6((d) => { d.vxlan = { udpChecksum: false }; }), 'node.yaml: vxlan.udpChecksum: false only applies to an IPv4 underlay (node.underlayIP is IPv6; use udp6ZeroChecksumTx)');
    expectOnly(build((d) => { d.vxlan = { udp6ZeroChecksumTx: true }; }), 'node.yaml: vxlan.udp6ZeroChecksumTx: true only applies to an IPv6 underlay (node.underlayIP is IPv4)');
    expectOnly(build((d) => { d.vxlan = { udp6ZeroChecksumRx: true }; }), 'node.yaml: vxlan.udp6ZeroChecksumRx: true only applies to an IPv6 underlay (node.underlayIP is IPv4)');
    // the default values written out explicitly are fine
    expect(() => parseConfig(v6((d) => { d.underlay = { df: 'unset' }; d.vxlan = { udpChecksum: true }; }), 'x')).not.toThrow();
    expect(() => parseConfig(build((d) => { d.vxlan = { udp6ZeroChecksumTx: false, udp6ZeroChecksumRx: false }; }), 'x')).not.toThrow();
  });

  it('tun.name', () => {
    expectOnly(build((d) => { d.tun = { name: 'vtep-0123456789a' }; }), 'node.yaml: tun.name: "vtep-0123456789a" is 16 bytes long; Linux interface names are at most 15');
    expectOnly(build((d) => { d.tun = { name: 'vtep/0' }; }), 'node.yaml: tun.name: "vtep/0" contains a character not allowed in interface names (/ : % whitespace or control)');
    expectOnly(build((d) => { d.tun = { name: 'vtep%d' }; }), 'node.yaml: tun.name: "vtep%d" contains a character not allowed in interface names (/ : % whitespace or control)');
    expectOnly(build((d) => { d.tun = { name: '..' }; }), 'node.yaml: tun.name: ".." is not a valid interface name');
    expectOnly(build((d) => { d.tun = { name: '' }; }), 'node.yaml: tun.name: "" is empty; an interface name is required');
    expect(parseConfig(build((d) => { d.tun = { name: 'vtep-0123456789' }; }), 'x').tun.name).toBe('vtep-0123456789');
  });

  it('node names', () => {
    expectOnly(build((d) => { d.peers[0].name = 'node two'; }), 'node.yaml: peers[0].name: "node two" must not contain whitespace or control characters');
    expectOnly(build((d) => { d.peers[0].name = ''; }), 'node.yaml: peers[0].name: "" must be 1..253 characters');
  });

  it('reports every problem at once, one line each, in a fixed order', () => {
    const lines = problems(build((d) => {
      d.vxlan = { vni: 'one' };
      d.node.vtepMAC = 'zz';
      d.peers[0].podCIDRs = ['10.244.2.1/24'];
      d.tun = { txqueuelen: 1.5 };
    }));
    expect(lines).toEqual([
      'node.yaml: node.vtepMAC: "zz" is not a MAC address (expected six colon-separated hex pairs, e.g. "02:00:00:00:00:01")',
      'node.yaml: peers[0].podCIDRs[0]: "10.244.2.1/24" has host bits set (did you mean 10.244.2.0/24?)',
      'node.yaml: vxlan.vni: "one" must be an integer, not a string',
      'node.yaml: tun.txqueuelen: 1.5 must be an integer, not a number',
    ]);
  });

  it(`caps the report at ${MAX_PROBLEMS} lines`, () => {
    const lines = problems(build((d) => {
      for (let i = 0; i < 30; i++) d.peers.push({ name: `p${i}`, underlayIP: '198.51.100.2', vtepMAC: `02:00:00:00:01:${(i + 16).toString(16)}`, podCIDRs: [`10.244.${i + 100}.0/24`] });
    }));
    expect(lines).toHaveLength(MAX_PROBLEMS + 1);
    expect(lines[0]).toBe('node.yaml: peers[1].underlayIP: "198.51.100.2" is already used by peers[0] (n2)');
    expect(lines[MAX_PROBLEMS]).toBe(`node.yaml: ... and ${30 - MAX_PROBLEMS} more problems`);
  });
});

describe('value helpers', () => {
  it('formats IPv6 per RFC 5952', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'], // first of two equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed
      ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'], // the longer run wins
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1:0:0:0:0:0:0:0', '1::'],
      ['FD00:10:244:0:0:0:0:0', 'fd00:10:244::'],
    ];
    for (const [input, want] of cases) {
      const ip = parseIP(input);
      expect(ip, input).toMatchObject({ family: 6, text: want });
    }
  });

  it('formats random IPv6 values like the WHATWG URL serializer (same rules as RFC 5952) and parses them back', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const value = groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
        const text = formatIPv6(value);
        const viaURL = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname.slice(1, -1);
        expect(text).toBe(viaURL);
        const back = parseIP(text);
        expect(back).toMatchObject({ family: 6, value, text });
      }),
      { numRuns: 500 },
    );
  });

  it('CIDR host-bit check and suggestion match a plain bigint reference', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (addr, prefix) => {
        const text = `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}/${prefix}`;
        const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
        const net = (addr & mask) >>> 0;
        const netText = `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${prefix}`;
        const r = parseCIDR(text);
        if (net === addr) expect(r).toMatchObject({ family: 4, prefix, network: BigInt(net), text: netText });
        else expect(r).toBe(`has host bits set (did you mean ${netText}?)`);
      }),
      { numRuns: 500 },
    );
  });

  it('pod CIDR overlap detection agrees with a pairwise reference', () => {
    // random small CIDRs inside 10.244.0.0/16, spread over up to 4 nodes
    const cidr = fc.record({ third: fc.integer({ min: 0, max: 7 }), prefix: fc.integer({ min: 21, max: 26 }), fourth: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(fc.array(fc.array(cidr, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }), (nodes) => {
        const ranges = nodes.map((list) =>
          list.map(({ third, prefix, fourth }) => {
            const addr = (10 << 24) | (244 << 16) | (third << 8) | fourth;
            const size = 2 ** (32 - prefix);
            const start = (addr >>> 0) - ((addr >>> 0) % size);
            return { start, end: start + size - 1, text: `10.244.${(start >>> 8) & 255}.${start & 255}/${prefix}` };
          }),
        );
        // reference: each CIDR that overlaps an earlier one (file order) is reported once, with the first such one
        const flat = ranges.flatMap((list, n) =>
          list.map((r, i) => ({ ...r, node: `n${n}`, path: `${n === 0 ? 'node' : `peers[${n - 1}]`}.podCIDRs[${i}]` })),
        );
        const want: string[] = [];
        flat.forEach((late, i) => {
          const early = flat.slice(0, i).find((e) => late.start <= e.end && e.start <= late.end);
          if (!early) return;
          const owner = early.node === late.node ? ' in the same node' : ` (${early.node}); a pod CIDR must belong to one node`;
          want.push(`r.yaml: ${late.path}: "${late.text}" (${late.node}) overlaps ${early.path} "${early.text}"${owner}`);
        });
        const doc = {
          node: { name: 'n0', underlayIP: '198.51.100.1', vtepMAC: '02:00:00:00:00:01', podCIDRs: ranges[0]!.map((r) => r.text) },
          peers: ranges.slice(1).map((list, k) => ({
            name: `n${k + 1}`, underlayIP: `198.51.100.${k + 2}`, vtepMAC: `02:00:00:00:00:0${k + 2}`, podCIDRs: list.map((r) => r.text),
          })),
        };
        let lines: string[] = [];
        try {
          parseConfig(stringify(doc), 'r.yaml');
        } catch (e) {
          lines = (e as Error).message.split('\n');
        }
        expect(lines).toEqual(want.slice(0, MAX_PROBLEMS).concat(want.length > MAX_PROBLEMS ? [`r.yaml: ... and ${want.length - MAX_PROBLEMS} more problems`] : []));
      }),
      { numRuns: 300 },
    );
  });

  it('did-you-mean suggests near misses only', () => {
    expect(editDistance('nmae', 'name')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearest('podCidrs', ['name', 'podCIDRs'])).toBe('podCIDRs');
    expect(nearest('under_lay', ['underlay', 'tun'])).toBe('underlay');
    expect(nearest('vni', ['vni', 'port'])).toBe('vni');
    expect(nearest('mt', ['mtu', 'ttl'])).toBe('mtu');
    expect(nearest('xyz', ['mtu', 'ttl', 'tos'])).toBeUndefined();
    expect(nearest('flowlabel', ['mtu', 'ttl', 'tos', 'df'])).toBeUndefined();
  });
});

