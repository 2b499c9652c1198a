/**
 * `vtep replay` exit codes and messages through the real CLI: 2 for usage and config (naming the flag,
 * file, key), 1 for unreadable, corrupt or cut-short captures (naming the record and byte offset; what came
 * before is processed and written), 0 for an empty capture, 3 for --expect differences; stdout holds
 * exactly the --json object (or the capture for `--out -`) and nothing else.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fx, haveTool, jsonOf, readCapture, tmpDir, vtep, writeClassic } from './helpers.ts';

const dir = tmpDir('errors');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string) => path.join(dir, name);

const k4 = (f: string) => fx('kernel-v4', f);
const N1 = k4('n1.yaml');
const UNDERLAY = k4('underlay.pcap');
const underlay = readCapture(UNDERLAY).records;
const decapN1 = readCapture(k4('decap-n1.pcap')).records;

/** Record offsets in underlay.pcap (classic, 16-byte record headers). */
const recordOffset = (i: number) => 24 + underlay.slice(0, i).reduce((a, r) => a + 16 + r.data.length, 0);
/** Outputs decap n1 gives for the first n underlay records. */
const MAC_N1 = Buffer.from([2, 0, 0, 0, 0, 1]);
const toN1 = readCapture(k4('flannel.pcap')).records.map((r) => r.data.subarray(0, 6).equals(MAC_N1));
const outputsBefore = (n: number) => toN1.slice(0, n).filter(Boolean).length;

describe('usage and config: exit 2', () => {
  it('a missing required flag is named', () => {
    for (const [args, flag] of [
      [['replay', 'decap', '--in', UNDERLAY, '--out', tmp('x.pcap')], '--config'],
      [['replay', 'encap', '--config', N1, '--out', tmp('x.pcap')], '--in'],
    ] as const) {
      const r = vtep([...args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`required option '${flag} <file>' not specified`);
      expect(r.stdout).toBe('');
    }
  });

  it('no --out and no --expect; an unknown flag; an unknown mode', () => {
    const a = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY]);
    expect([a.status, a.stderr]).toEqual([2, 'vtep: replay decap: --out FILE is required (or --expect FILE to only compare)\n']);
    const b = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--out', tmp('x.pcap'), '--bogus']);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain("unknown option '--bogus'");
    const c = vtep(['replay', 'bounce', '--config', N1]);
    expect(c.status).toBe(2);
    expect(c.stderr).toContain("unknown command 'bounce'");
  });

  it('a missing config file names the file', () => {
    const r = vtep(['replay', 'decap', '--config', tmp('nope.yaml'), '--in', UNDERLAY, '--out', tmp('x.pcap')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`vtep: ${tmp('nope.yaml')}: cannot read: ENOENT\n`);
    expect(fs.existsSync(tmp('x.pcap'))).toBe(false);
  });

  it('a config with several problems: one line per problem, first problem first, file and key named', () => {
    const bad = tmp('bad.yaml');
    fs.writeFileSync(bad, 'node:\n  name: n1\n  underlayIP: 198.51.100.300\n  vtepMAC: "02:00:00:00:00:01"\n  podCIDRs: [10.244.1.0/24]\nvxlan: { vni: 99999999 }\n');
    const r = vtep(['replay', 'decap', '--config', bad, '--in', UNDERLAY, '--out', tmp('x.pcap')]);
    expect(r.status).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.length).toBe(2);
    expect(lines[0]).toMatch(new RegExp(`^vtep: ${bad}: node\\.underlayIP: "198\\.51\\.100\\.300" `));
    expect(lines[1]).toMatch(new RegExp(`^vtep: ${bad}: vxlan\\.vni: 99999999 `));
    expect(r.stdout).toBe('');
  });

  it('an output that would overwrite an input; an output that cannot be created', () => {
    const copy = tmp('in-copy.pcap');
    fs.copyFileSync(UNDERLAY, copy);
    const before = fs.readFileSync(copy);
    const r = vtep(['replay', 'decap', '--config', N1, '--in', copy, '--out', path.join(dir, '.', 'in-copy.pcap')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--out');
    expect(r.stderr).toContain('is the same file as --in');
    expect(fs.readFileSync(copy).equals(before)).toBe(true);
    const e = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--out', tmp('x.pcap'), '--expect', tmp('x.pcap')]);
    expect(e.status).toBe(2);
    const n = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--out', tmp('no/such/dir/x.pcap')]);
    expect(n.status).toBe(2);
    expect(n.stderr).toMatch(/^vtep: --out .*no\/such\/dir\/x\.pcap: cannot create capture: ENOENT/);
  });

  it('flag combinations: --ignore needs --expect, unknown --ignore field, --json with --out -, --icmp-out with decap', () => {
    const base = ['replay', 'encap', '--config', N1, '--in', k4('flannel.pcap')];
    const a = vtep([...base, '--out', tmp('x.pcap'), '--ignore', 'ip.id']);
    expect([a.status, a.stderr]).toEqual([2, 'vtep: --ignore only applies with --expect FILE\n']);
    const b = vtep([...base, '--out', tmp('x.pcap'), '--expect', k4('encap-n1.pcap'), '--ignore', 'ip.idd']);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/^vtep: --ignore: unknown field "ip\.idd" \(one of: kernel-variance, frame\.len/);
    const c = vtep([...base, '--out', '-', '--json']);
    expect(c.status).toBe(2);
    expect(c.stdout).toBe('');
    const d = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--out', tmp('x.pcap'), '--icmp-out', tmp('i.pcap')]);
    expect(d.status).toBe(2);
    expect(d.stderr).toContain("unknown option '--icmp-out'");
  });
});

describe('captures: exit 1 (unreadable / corrupt / cut short), 0 for an empty capture', () => {
  it('a missing input names --in and the file; no output is created', () => {
    const r = vtep(['replay', 'decap', '--config', N1, '--in', tmp('missing.pcap'), '--out', tmp('m.out.pcap')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`vtep: --in ${tmp('missing.pcap')}: cannot open capture: ENOENT: no such file or directory, open '${tmp('missing.pcap')}'\n`);
    expect(fs.existsSync(tmp('m.out.pcap'))).toBe(false);
  });

  it('an empty file, a file too short for a header, a non-capture file', () => {
    fs.writeFileSync(tmp('empty.pcap'), '');
    fs.writeFileSync(tmp('short.pcap'), Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0]));
    fs.writeFileSync(tmp('text.pcap'), 'hello, this is not a capture\n');
    for (const [f, msg] of [
      ['empty.pcap', 'empty file (no capture header)'],
      ['short.pcap', 'truncated pcap file header (6 of 24 bytes)'],
      ['text.pcap', 'not a pcap or pcapng file (magic 0x68656c6c)'],
    ]) {
      const r = vtep(['replay', 'decap', '--config', N1, '--in', tmp(f!), '--out', tmp('e.out.pcap'), '--json']);
      expect(r.status, f).toBe(1);
      expect(r.stderr).toBe(`vtep: --in ${tmp(f!)}: ${msg}\n`);
      expect(r.stdout).toBe('');
    }
  });

  it('a capture with a header and no packets: exit 0, an empty output capture', () => {
    writeClassic(tmp('none.pcap'), [], { nsec: true });
    const r = vtep(['replay', 'encap', '--config', N1, '--in', tmp('none.pcap'), '--out', tmp('none.out.pcap'), '--json']);
    expect(r.status).toBe(0);
    expect(jsonOf(r)).toMatchObject({ mode: 'encap', packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, drops: {} });
    const out = readCapture(tmp('none.out.pcap'));
    expect([out.records.length, out.magic, fs.statSync(tmp('none.out.pcap')).size]).toEqual([0, 0xa1b23c4d, 24]);
  });

  for (const [what, cut] of [
    ['inside the data of record 200', recordOffset(199) + 16 + 30],
    ['inside the header of record 200', recordOffset(199) + 7],
  ] as const) {
    it(`cut short ${what}: names the record and byte offset, keeps everything before, exit 1`, () => {
      const f = tmp(`cut-${cut}.pcap`);
      fs.writeFileSync(f, fs.readFileSync(UNDERLAY).subarray(0, cut));
      const o = tmp(`cut-${cut}.out.pcap`);
      const r = vtep(['replay', 'decap', '--config', N1, '--in', f, '--out', o, '--json']);
      expect(r.status).toBe(1);
      const s = jsonOf(r); // the summary is still the one JSON object on stdout
      expect(s.packetsIn).toBe(199);
      expect(s.packetsOut).toBe(outputsBefore(199));
      expect(r.stderr).toContain(`vtep: --in ${f}: capture cut short: record 200 at byte ${recordOffset(199)} is incomplete`);
      const got = readCapture(o).records.map((x) => x.data.toString('hex'));
      expect(got).toEqual(decapN1.slice(0, outputsBefore(199)).map((x) => x.data.toString('hex')));
    });
  }

  it('a corrupt record in the middle (impossible length): names record and offset, keeps what came before, exit 1', () => {
    const img = Buffer.from(fs.readFileSync(UNDERLAY));
    const at = recordOffset(299);
    img.writeUInt32LE(0x7fffffff, at + 8); // caplen of record 300
    const f = tmp('corrupt.pcap');
    fs.writeFileSync(f, img);
    const o = tmp('corrupt.out.pcap');
    const r = vtep(['replay', 'decap', '--config', N1, '--in', f, '--out', o]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`vtep: --in ${f}: record 300 at byte ${at}: capLen 2147483647 exceeds snaplen 262144`);
    expect(r.stderr).toMatch(/packets in\s+299\b/);
    expect(readCapture(o).records.length).toBe(outputsBefore(299));
  });

  it('a corrupt pcapng block (trailing length differs): exit 1 naming the record and offset', () => {
    const ng = tmp('good.pcapng');
    execFileSync('editcap', ['-F', 'pcapng', '-r', UNDERLAY, ng, '1-20']);
    const img = Buffer.from(fs.readFileSync(ng));
    // find the 11th EPB (type 6) and break its trailing length
    let off = 0;
    let epb = 0;
    while (off < img.length) {
      const type = img.readUInt32LE(off);
      const len = img.readUInt32LE(off + 4);
      if (type === 6 && ++epb === 11) {
        img.writeUInt32LE(len + 4, off + len - 4);
        break;
      }
      off += len;
    }
    const f = tmp('corrupt.pcapng');
    fs.writeFileSync(f, img);
    const r = vtep(['replay', 'decap', '--config', N1, '--in', f, '--out', tmp('c.out.pcap'), '--json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`vtep: --in ${f}: record 11 at byte ${off}: trailing block length`);
    expect(jsonOf(r).packetsIn).toBe(10);
  });
});

describe('output channels', () => {
  it('--json: exactly one JSON object on stdout; without it stdout stays empty and the table goes to stderr', () => {
    const a = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--out', tmp('j.pcap'), '--json']);
    expect(a.status).toBe(0);
    expect(a.stdout.endsWith('}\n')).toBe(true);
    expect(a.stdout.split('\n').length).toBe(2);
    expect(Object.keys(JSON.parse(a.stdout))).toEqual(['mode', 'packetsIn', 'packetsOut', 'bytesIn', 'bytesOut', 'drops', 'seconds']);
    expect(a.stderr).toBe('');
    const b = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--out', tmp('j.pcap')]);
    expect(b.stdout).toBe('');
    expect(b.stderr).toMatch(/^replay decap\n\s+packets in\s+1647\s+\(\d+ bytes\)\n\s+packets out\s+90 /);
    expect(b.stderr).toMatch(/outer-dst-not-local\s+1557\s+outer destination is not this node's underlay IP/);
    expect(b.stderr).not.toContain('\r'); // no progress bar when stderr is not a terminal
  });

  it('--out - writes the capture to stdout', () => {
    const r = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--out', '-']);
    expect(r.status).toBe(0);
    expect(r.raw.equals(fs.readFileSync(k4('decap-n1.pcap')))).toBe(true);
  });

  it('--expect only (no --out); fewer or more packets than expected: exit 3', () => {
    expect(vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--expect', k4('decap-n1.pcap')]).status).toBe(0);
    const fewer = tmp('fewer.pcap');
    writeClassic(fewer, decapN1.slice(0, 50));
    const a = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--expect', fewer]);
    expect(a.status).toBe(3);
    expect(a.stderr).toMatch(/output packet 51 \(input record \d+\) is one more than the expected capture holds \(50 packets\)/);
    const more = tmp('more.pcap');
    writeClassic(more, [...decapN1, decapN1[0]!]);
    const b = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--expect', more]);
    expect(b.status).toBe(3);
    expect(b.stderr).toContain('the expected capture has more packets than the output (90): expected packet 91 was never produced');
    const cut = tmp('expect-cut.pcap');
    fs.writeFileSync(cut, fs.readFileSync(k4('decap-n1.pcap')).subarray(0, 24 + decapN1.slice(0, 10).reduce((a, r) => a + 16 + r.data.length, 0) + 20));
    const c = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--expect', cut]);
    expect(c.status).toBe(3);
    expect(c.stderr).toMatch(/output packet 11 \(input record \d+\) is one more than the expected capture holds \(10 packets\); the expected capture is cut short: record 11 at byte \d+ is incomplete/);
  });

  it('a payload difference is shown with its byte offset', () => {
    const changed = decapN1.map((r) => ({ ...r, data: Buffer.from(r.data) }));
    changed[4]!.data[200] ^= 0xff;
    const f = tmp('changed.pcap');
    writeClassic(f, changed);
    const r = vtep(['replay', 'decap', '--config', N1, '--in', UNDERLAY, '--expect', f]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/output packet 5 \(input record \d+\) differs from expected packet 5 \(record 5\):/);
    expect(r.stderr).toMatch(/\n\s+payload\s+payload\s+\d+ B, @\d+: /);
  });

  it.skipIf(!haveTool('script'))('a progress bar on stderr when it is a terminal', () => {
    // 70 000 small records: the bar is drawn every 65 536
    const recs = Array.from({ length: 70_000 }, (_, i) => ({ tsSec: i, tsNsec: 0, data: underlay[1]!.data }));
    const f = tmp('many.pcap');
    writeClassic(f, recs);
    const cmd = `node bin/vtep.js replay decap --config ${N1} --in ${f} --out ${tmp('many.out.pcap')}`;
    const tty = execFileSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', cwd: path.resolve(import.meta.dirname, '../..') });
    expect(tty).toMatch(/\r\[#+\.*\]\s+\d+%\s+65536 packets/);
    expect(tty).toMatch(/packets in\s+70000/);
  });
});
