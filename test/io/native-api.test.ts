// The addon's argument contract and the loader, without network namespaces (no root needed):
// bounds are checked against the pool before any system call, bad fds come back as -EBADF,
// type mistakes throw TypeError, a missing addon never breaks an import.
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { errnoName, errnoText, native, nativeAvailable, nativeLoadError } from '../../src/io/native.ts';
import { formatIp, parseIpInto } from '../../src/io/udp.ts';

const { EBADF, EINVAL, ENAMETOOLONG } = osConstants.errno;

describe('native addon loader', () => {
  it('loads on Linux (build it with `npx node-gyp rebuild` / `npm rebuild`)', () => {
    if (process.platform !== 'linux') return;
    expect(nativeLoadError).toBe('');
    expect(nativeAvailable).toBe(true);
  });

  it('reports a missing addon without throwing at import', async () => {
    vi.stubEnv('VTEP_NATIVE_PATH', '/nonexistent/vtep_native.node');
    vi.resetModules();
    try {
      const m = await import('../../src/io/native.ts');
      expect(m.nativeAvailable).toBe(false);
      expect(m.native).toBeNull();
      expect(m.nativeLoadError).toMatch(/native addon (missing|is Linux only)/);
      expect(m.nativeLoadError).toMatch(/--io node/);
      const tun = await import('../../src/io/tun.ts');
      expect(() => tun.TunDevice.open({ name: 'vtep0', readCapacity: 1500 })).toThrow(/native addon/);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });

  it('reports an addon that fails to load', async () => {
    if (process.platform !== 'linux') return;
    const dir = mkdtempSync(join(tmpdir(), 'vtep-native-'));
    const bogus = join(dir, 'vtep_native.node');
    writeFileSync(bogus, 'not an ELF file');
    vi.stubEnv('VTEP_NATIVE_PATH', bogus);
    vi.resetModules();
    try {
      const m = await import('../../src/io/native.ts');
      expect(m.nativeAvailable).toBe(false);
      expect(m.nativeLoadError).toMatch(/failed to load/);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(native === null)('native addon argument contract', () => {
  const n = native!;
  const pool = new Uint8Array(4096);
  const offsets = Int32Array.of(0, 2048);
  const lengths = new Int32Array(2);

  it('rejects slots outside the pool with -EINVAL before any system call', () => {
    // fd -1 would give EBADF: EINVAL proves the bounds check ran first
    expect(n.tunReadBatch(-1, pool, Int32Array.of(4000), 200, lengths, 1)).toBe(-EINVAL);
    expect(n.tunReadBatch(-1, pool, Int32Array.of(-1), 10, lengths, 1)).toBe(-EINVAL);
    expect(n.recvBatch(-1, pool, offsets, 2049, lengths, null, null, 2)).toBe(-EINVAL);
    expect(n.recvBatch(-1, pool, offsets, Int32Array.of(10, 3000), lengths, null, null, 2)).toBe(-EINVAL);
    expect(n.tunWriteBatch(-1, pool, offsets, Int32Array.of(10, 2049), 0, 2)).toBe(-EINVAL);
    expect(n.sendBatch(-1, pool, offsets, Int32Array.of(5000, 1), null, null, 0, 2)).toBe(-EINVAL);
    // a subarray view: offsets are relative to the view, so its shorter length is the bound
    expect(n.tunReadBatch(-1, pool.subarray(100, 300), Int32Array.of(0), 201, lengths, 1)).toBe(-EINVAL);
    expect(n.tunReadBatch(-1, pool.subarray(100, 300), Int32Array.of(0), 200, lengths, 1)).toBe(-EBADF);
  });

  it('only checks the slots it will use (end / maxN bound the batch)', () => {
    const offs = Int32Array.of(0, 999999);
    expect(n.tunReadBatch(-1, pool, offs, 100, lengths, 1)).toBe(-EBADF);
    expect(n.tunWriteBatch(-1, pool, offs, Int32Array.of(10, 10), 0, 1)).toBe(-EBADF);
    expect(n.tunWriteBatch(-1, pool, offs, Int32Array.of(10, 10), 1, 1)).toBe(0); // empty range
    expect(n.tunWriteBatch(-1, pool, offs, Int32Array.of(10, 10), 2, 1)).toBe(-EINVAL); // first > end
    expect(n.recvBatch(-1, pool, offs, 100, lengths, null, null, 0)).toBe(0);
    // the optional tos array bounds the batch too: an empty one means nothing to read, no system call
    expect(n.recvBatch(-1, pool, offsets, 100, lengths, null, null, 2, new Uint8Array(0))).toBe(0);
    expect(n.recvBatch(-1, pool, offsets, 100, lengths, null, null, 2, new Uint8Array(2))).toBe(-EBADF);
    expect(n.recvBatch(-1, pool, offsets, 100, lengths, null, null, 2, null)).toBe(-EBADF);
    expect(n.recvBatch(-1, pool, offsets, 100, lengths, null, null, 2, undefined)).toBe(-EBADF);
  });

  it('returns -EBADF for a closed descriptor', () => {
    expect(n.tunReadBatch(-1, pool, offsets, 100, lengths, 2)).toBe(-EBADF);
    expect(n.tunWriteBatch(-1, pool, offsets, Int32Array.of(10, 10), 0, 2)).toBe(-EBADF);
    expect(n.recvBatch(-1, pool, offsets, 100, lengths, new Uint8Array(32), new Uint16Array(2), 2)).toBe(-EBADF);
    expect(n.sendBatch(-1, pool, offsets, Int32Array.of(10, 10), new Uint8Array(32), new Uint16Array(2), 0, 2)).toBe(-EBADF);
    expect(n.closeFd(-1)).toBe(-EBADF);
    expect(n.sockLocalPort(-1)).toBe(-EBADF);
    expect(n.pollStop(12345)).toBe(-EBADF);
  });

  it('throws TypeError for wrongly typed arguments', () => {
    expect(() => n.tunReadBatch(-1, pool, new Float64Array(2) as unknown as Int32Array, 100, lengths, 2)).toThrow(TypeError);
    expect(() => n.tunReadBatch(-1, 'pool' as unknown as Uint8Array, offsets, 100, lengths, 2)).toThrow(TypeError);
    expect(() => n.recvBatch(-1, pool, offsets, 100, lengths, new Uint16Array(16) as unknown as Uint8Array, null, 2))
      .toThrow(TypeError);
    expect(() => n.recvBatch(-1, pool, offsets, 100, lengths, null, new Uint8Array(2) as unknown as Uint16Array, 2))
      .toThrow(TypeError);
    expect(() => n.recvBatch(-1, pool, offsets, 100, lengths, null, null, 2, new Int8Array(2) as unknown as Uint8Array))
      .toThrow(TypeError);
    expect(() => n.pollStart(0, 1, 'cb' as unknown as () => void)).toThrow(TypeError);
  });

  it('refuses over-long interface names and bad socket arguments', () => {
    expect(n.tunOpen('a-name-longer-than-15', 0)).toBe(-ENAMETOOLONG);
    expect(n.udpOpen(4, 'not-an-address', 0, 0, 0, 0)).toBe(-EINVAL);
    expect(n.udpOpen(5 as 4, '0.0.0.0', 0, 0, 0, 0)).toBe(-EINVAL);
    expect(n.udpOpen(4, '0.0.0.0', 70000, 0, 0, 0)).toBe(-EINVAL);
  });

  it('exports the socket options that turn on received TOS / traffic class', () => {
    if (process.platform !== 'linux') return;
    // Linux values (include/uapi/linux/in.h, in6.h)
    expect(n.constants.IP_RECVTOS).toBe(13);
    expect(n.constants.IPV6_RECVTCLASS).toBe(66);
  });

  it('names errno values', () => {
    expect(errnoName(-osConstants.errno.EBUSY)).toBe('EBUSY');
    expect(errnoName(osConstants.errno.EADDRINUSE)).toBe('EADDRINUSE');
    expect(errnoText(-osConstants.errno.EADDRINUSE)).toBe('EADDRINUSE (address already in use)');
  });
});

describe('address text <-> 16-byte form', () => {
  const bytes = (s: string): number[] | null => {
    const out = new Uint8Array(20).fill(0xee);
    return parseIpInto(s, out, 2) ? [...out.subarray(2, 18)] : null;
  };
  const hex = (s: string): number[] => [...Buffer.from(s.replace(/ /g, ''), 'hex')];

  it('parses IPv4 as v4-mapped and IPv6 in all its spellings', () => {
    expect(bytes('198.51.100.7')).toEqual(hex('00000000 00000000 0000ffff c6336407'));
    expect(bytes('::1')).toEqual(hex('00000000 00000000 00000000 00000001'));
    expect(bytes('::')).toEqual(hex('00000000 00000000 00000000 00000000'));
    expect(bytes('::ffff:198.51.100.7')).toEqual(hex('00000000 00000000 0000ffff c6336407'));
    expect(bytes('2001:db8:100::5')).toEqual(hex('20010db8 01000000 00000000 00000005'));
    expect(bytes('fe80::1%vtep0')).toEqual(hex('fe800000 00000000 00000000 00000001'));
    expect(bytes('fd00:10:244:1:2:3:4:5')).toEqual(hex('fd000010 02440001 00020003 00040005'));
    expect(bytes('2001:db8::')).toEqual(hex('20010db8 00000000 00000000 00000000'));
  });

  it('rejects malformed text', () => {
    for (const s of ['', '1.2.3', '1.2.3.256', '1.2.3.4.5', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '::1.2.3.4:5', 'g::1', '01.2.3.4x']) {
      expect(bytes(s), s).toBeNull();
    }
  });

  it('round-trips random addresses through formatIp', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (a) => {
      const out = new Uint8Array(16);
      expect(parseIpInto(formatIp(a, 0, 6), out, 0)).toBe(true);
      expect([...out]).toEqual([...a]);
      const v4 = new Uint8Array(16);
      expect(parseIpInto(formatIp(a, 0, 4), v4, 0)).toBe(true);
      expect([...v4]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[12], a[13], a[14], a[15]]);
    }));
  });
});
