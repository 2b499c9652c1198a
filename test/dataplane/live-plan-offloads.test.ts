// `vtep run --offload`: what each value turns on for a config and I/O mode, the errors for what cannot be, and
// how the plan sizes slots and sockets for it (src/dataplane/live-plan.ts).
import { describe, expect, it } from 'vitest';
import { GSO_MAX_PACKET, NO_OFFLOADS, parseOffloads, planLive, vnetOf } from '../../src/dataplane/live-plan.ts';
import { VtepError } from '../../src/util/errors.ts';
import { configOf } from './helpers.ts';

const v4 = configOf(1);
const v4NoCsum = configOf(1, { extra: 'vxlan:\n  udpChecksum: false' });
const v6 = configOf(1, { family: 6 });
const v6ZeroTx = configOf(1, { family: 6, extra: 'vxlan:\n  udp6ZeroChecksumTx: true' });
const ipip = configOf(1, { backend: 'ipip', pods: 'v4' });

function errorOf(f: () => unknown): { code: string; message: string } | null {
  try {
    f();
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(VtepError);
    return { code: (e as VtepError).code, message: (e as Error).message };
  }
}

describe('parseOffloads', () => {
  it('auto: every lever the config allows', () => {
    expect(parseOffloads('auto', v4, 'native')).toEqual({ tso: true, gso: true, gro: true, coalesce: true });
    expect(parseOffloads('auto', v6, 'native')).toEqual({ tso: true, gso: true, gro: true, coalesce: true });
    // no outer checksums: the kernel refuses UDP GSO, so auto leaves it off
    expect(parseOffloads('auto', v4NoCsum, 'native')).toEqual({ tso: true, gso: false, gro: true, coalesce: true });
    expect(parseOffloads('auto', v6ZeroTx, 'native')).toEqual({ tso: true, gso: false, gro: true, coalesce: true });
    // IPIP: raw sockets have no GSO / GRO
    expect(parseOffloads('auto', ipip, 'native')).toEqual({ tso: true, gso: false, gro: false, coalesce: true });
    // node:dgram cannot do any of it
    expect(parseOffloads('auto', v4, 'node')).toEqual(NO_OFFLOADS);
  });

  it('none and explicit lists: exactly those', () => {
    expect(parseOffloads('none', v4, 'native')).toEqual(NO_OFFLOADS);
    expect(parseOffloads('tso', v4, 'native')).toEqual({ tso: true, gso: false, gro: false, coalesce: false });
    expect(parseOffloads('gro,coalesce', v4, 'native')).toEqual({ tso: false, gso: false, gro: true, coalesce: true });
    expect(parseOffloads('tso,coalesce', ipip, 'native')).toEqual({ tso: true, gso: false, gro: false, coalesce: true });
  });

  it('what cannot be is one clear error naming the value and the reason', () => {
    expect(errorOf(() => parseOffloads('tso,lro', v4, 'native'))).toEqual({
      code: 'USAGE',
      message: '--offload "tso,lro": unknown offload "lro" (auto, none, or a comma list of tso, gso, gro, coalesce)',
    });
    expect(errorOf(() => parseOffloads('', v4, 'native'))?.code).toBe('USAGE');
    expect(errorOf(() => parseOffloads('tso', v4, 'node'))?.message).toBe('--offload tso: offloads need --io native (the addon)');
    expect(errorOf(() => parseOffloads('gso', ipip, 'native'))?.message).toBe('--offload gso: gso and gro are VXLAN (UDP) offloads; backend is ipip');
    const e = errorOf(() => parseOffloads('tso,gso', v4NoCsum, 'native'));
    expect(e?.code).toBe('CONFIG');
    expect(e?.message).toBe('n1.yaml: --offload gso needs outer UDP checksums (the kernel refuses UDP GSO without them), but vxlan.udpChecksum: false');
    expect(errorOf(() => parseOffloads('gso', v6ZeroTx, 'native'))?.message).toContain('vxlan.udp6ZeroChecksumTx: true');
  });
});

describe('planLive with offloads', () => {
  it('none: slots and reads sized by the MTU, no virtio-net header', () => {
    const p = planLive(v4);
    expect(p.offloads).toEqual(NO_OFFLOADS);
    expect(p.readCapacity).toBeLessThan(2048);
    expect(p.tunReadCapacity).toBe(p.readCapacity);
    expect(p.channels[0]).toMatchObject({ gso: false, gro: false });
    expect(vnetOf(p.offloads)).toBe(false);
  });

  it('auto: 64 KiB reads (plus the virtio-net header on the TUN), GSO/GRO asked of the socket', () => {
    const o = parseOffloads('auto', v4, 'native');
    const p = planLive(v4, o);
    expect(p.readCapacity).toBe(GSO_MAX_PACKET);
    expect(p.tunReadCapacity).toBe(GSO_MAX_PACKET + 10);
    // a slot holds a 64 KiB packet cut into 128 segments, each with its own headers and gap
    expect(p.slotSize).toBeGreaterThan(GSO_MAX_PACKET + 128 * 100);
    expect(p.channels[0]).toMatchObject({ kind: 'udp', gso: true, gro: true, udpZeroTx: false });
    expect(vnetOf(o)).toBe(true);
  });

  it('gro alone: 64 KiB socket reads, no TUN header', () => {
    const o = parseOffloads('gro', v4, 'native');
    const p = planLive(v4, o);
    expect(vnetOf(o)).toBe(false);
    expect(p.readCapacity).toBe(GSO_MAX_PACKET);
    expect(p.tunReadCapacity).toBe(GSO_MAX_PACKET);
  });
});
