/**
 * bench/results/live-*.svg from a bench:live result: four panels (TCP throughput, 64-byte UDP packet rate,
 * ping RTT p99, CPU per GB), one row per contender, linear scales, targets as red ticks. Hand-written SVG.
 * Rows in the order a, a+, b, c, d, e, f, then (below a dashed rule) the offload ladder b0, b1, b2, b3 and
 * bz; under a vtep contender's name, the offloads its vtep nodes ran with; the ladder's TCP bars say how
 * many times b0 they are.
 */

/** Row order; ids not listed go last. */
const ROW_ORDER = ['a', 'a+', 'b', 'c', 'd', 'e', 'f', 'b0', 'b1', 'b2', 'b3', 'bz'];
/** Rows from here on are drawn below a rule, as one group. */
const LADDER = new Set(['b0', 'b1', 'b2', 'b3', 'bz']);

interface Bar {
  value: number | null;
  color: string;
  label?: string;
}

interface Panel {
  title: string;
  unit: (v: number) => string;
  legend: [string, string][];
  targets: { value: number; label: string }[];
  rows: { name: string; sub?: string; group: number; bars: Bar[] }[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const BLUE = '#2b6cb0';
const LIGHT = '#90cdf4';
const GREY = '#a0aec0';
const ORANGE = '#dd6b20';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function renderLiveSvg(r: any): string {
  const rank = (id: string) => (ROW_ORDER.includes(id) ? ROW_ORDER.indexOf(id) : ROW_ORDER.length);
  const ordered = [...(r.contenders as any[])].sort((x, y) => rank(x.id) - rank(y.id));
  const ok = ordered.filter((c) => c.okRounds > 0);
  const failed = ordered.filter((c) => c.okRounds === 0);
  const msOf = (us: number | null) => (us === null ? null : us / 1000);
  const b0 = ok.find((c) => c.id === 'b0');
  const vsB0 = (c: any, key: 'tcp1Gbps' | 'tcp4Gbps') =>
    b0 && c.id !== 'b0' && (c.id === 'b' || LADDER.has(c.id)) && c[key] && b0[key] ? `×${(c[key] / b0[key]).toFixed(1)} vs b0` : undefined;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const row = (c: any, bars: Bar[]) => ({ name: `(${c.id}) ${c.name}`, sub: offloadsOf(c), group: LADDER.has(c.id) ? 1 : 0, bars });
  const panels: Panel[] = [
    {
      title: 'TCP throughput, iperf3 pod → pod (Gbit/s)',
      unit: (v) => v.toFixed(2),
      legend: [['1 stream', BLUE], ['4 streams', LIGHT]],
      targets: [{ value: 4, label: 'target 4' }],
      rows: ok.map((c) => row(c, [{ value: c.tcp1Gbps, color: BLUE, label: vsB0(c, 'tcp1Gbps') }, { value: c.tcp4Gbps, color: LIGHT, label: vsB0(c, 'tcp4Gbps') }])),
    },
    {
      title: '64-byte UDP frames per second (trafgen on the pod veth)',
      unit: (v) => `${(v / 1e3).toFixed(0)}k`,
      legend: [['delivered with < 1 % loss', BLUE], ['unthrottled: sent', GREY], ['unthrottled: delivered', ORANGE]],
      targets: [{ value: 500_000, label: 'stretch 500k' }],
      rows: ok.map((c) => row(c, [
        { value: c.udpPps, color: BLUE, label: c.udpGeneratorLimited ? 'paced generator could not go faster' : c.udpSenderClocked ? 'no loss even unthrottled' : undefined },
        { value: c.atMax?.sentPps ?? null, color: GREY },
        { value: c.atMax?.deliveredPps ?? null, color: ORANGE, label: c.atMax ? `${(c.atMax.loss * 100).toFixed(0)} % loss` : undefined },
      ])),
    },
    {
      title: 'ICMP echo RTT p99 (ms)',
      unit: (v) => v.toFixed(2),
      legend: [['idle', GREY], ['during the 1-stream TCP run', BLUE]],
      targets: [{ value: 2, label: 'target 2 ms' }],
      rows: ok.map((c) => row(c, [{ value: msOf(c.idleP99Us), color: GREY }, { value: msOf(c.loadP99Us), color: BLUE }])),
    },
    {
      title: 'CPU seconds per GB moved (TCP runs)',
      unit: (v) => v.toFixed(2),
      legend: [['tunnel processes (vtep / socat)', BLUE], ['machine system+irq+softirq', GREY]],
      targets: [],
      rows: ok.map((c) => row(c, [{ value: c.cpuBasis?.startsWith('whole machine') ? null : c.cpuPerGB, color: BLUE }, { value: c.cpuPerGBMachine, color: GREY }])),
    },
  ];

  // ≈ 6 px per character at 11 px sans-serif: the widest row name decides where the bars start
  const longest = Math.max(0, ...panels.flatMap((p) => p.rows.map((row) => row.name.length)));
  const labelW = Math.max(300, Math.min(420, 10 + Math.ceil(longest * 6)));
  const left = labelW + 10;
  const plotW = 480;
  const width = left + plotW + 230;
  const out: string[] = [];
  let y = 0;
  const body: string[] = [];
  const header = 62;
  y = header;
  for (const p of panels) {
    const barH = 9;
    const rowH = p.rows.length ? Math.max(28, p.rows[0]!.bars.length * (barH + 2) + 6) : 28;
    const groupGap = 10;
    body.push(`<text x="10" y="${y + 14}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    // legend
    let lx = left;
    for (const [name, color] of p.legend) {
      body.push(`<rect x="${lx}" y="${y + 20}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${y + 29}">${esc(name)}</text>`);
      lx += 24 + name.length * 6;
    }
    for (const tg of p.targets) {
      body.push(`<line x1="${lx}" y1="${y + 20}" x2="${lx}" y2="${y + 30}" stroke="#e53e3e" stroke-width="2"/><text x="${lx + 5}" y="${y + 29}">${esc(tg.label)}</text>`);
      lx += 24 + tg.label.length * 6;
    }
    const top = y + 38;
    const vals = p.rows.flatMap((row) => row.bars.map((b) => b.value ?? 0)).concat(p.targets.map((t) => t.value));
    const max = niceMax(Math.max(...vals, 1e-9));
    const x = (v: number) => left + (plotW * Math.min(v, max)) / max;
    const groups = new Set(p.rows.map((row) => row.group)).size;
    const bottom = top + p.rows.length * rowH + (groups - 1) * groupGap;
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      const gx = x(v).toFixed(1);
      body.push(`<line x1="${gx}" y1="${top - 2}" x2="${gx}" y2="${bottom}" stroke="#e2e8f0"/>`);
      body.push(`<text x="${gx}" y="${bottom + 12}" text-anchor="middle" fill="#555">${esc(p.unit(v))}</text>`);
    }
    let gap = 0;
    p.rows.forEach((row, i) => {
      if (i > 0 && row.group !== p.rows[i - 1]!.group) {
        gap += groupGap;
        const ly = top + i * rowH + gap - groupGap / 2;
        body.push(`<line x1="10" y1="${ly}" x2="${left + plotW}" y2="${ly}" stroke="#a0aec0" stroke-dasharray="4 3"/>`);
        body.push(`<text x="${left + plotW + 4}" y="${ly + 4}" fill="#777" font-size="10">offload ladder ↓</text>`);
      }
      const ry = top + i * rowH + gap;
      if (row.sub) {
        body.push(`<text x="${labelW}" y="${ry + rowH / 2}" text-anchor="end">${esc(row.name)}</text>`);
        body.push(`<text x="${labelW}" y="${ry + rowH / 2 + 11}" text-anchor="end" fill="#777" font-size="9">${esc(row.sub)}</text>`);
      } else {
        body.push(`<text x="${labelW}" y="${ry + rowH / 2 + 4}" text-anchor="end">${esc(row.name)}</text>`);
      }
      row.bars.forEach((b, k) => {
        const by = ry + 3 + k * (barH + 2);
        if (b.value === null || b.value === undefined) {
          body.push(`<text x="${left + 4}" y="${by + barH - 1}" fill="#777">n/a</text>`);
          return;
        }
        body.push(`<rect x="${left}" y="${by}" width="${Math.max(1, x(b.value) - left).toFixed(1)}" height="${barH}" fill="${b.color}"/>`);
        const txt = p.unit(b.value) + (b.label ? ` (${b.label})` : '');
        body.push(`<text x="${(x(b.value) + 4).toFixed(1)}" y="${by + barH - 1}" fill="#333" font-size="10" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(txt)}</text>`);
      });
    });
    for (const tg of p.targets) {
      if (tg.value > max) continue;
      const tx = x(tg.value).toFixed(1);
      body.push(`<line x1="${tx}" y1="${top - 2}" x2="${tx}" y2="${bottom}" stroke="#e53e3e" stroke-width="2"/>`);
    }
    y = bottom + 28;
  }
  if (failed.length) {
    for (const c of failed) {
      body.push(`<text x="10" y="${y}" fill="#b00">${esc(`(${c.id}) ${c.name}: ${String(c.errors[0] ?? 'failed').split('\n')[0]!.slice(0, 110)}`)}</text>`);
      y += 16;
    }
  }
  const height = y + 10;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">vtep live dataplane vs kernel VXLAN and socat (two netns nodes, one veth underlay)</text>`);
  const load = (r.contenders as any[]).flatMap((c) => c.loadavg1 as number[]).filter((v) => typeof v === 'number');
  const sub1 = `${r.date.slice(0, 16).replace('T', ' ')} UTC · ${r.machine.cpus} · kernel ${r.machine.kernel} · node ${r.machine.node}`;
  const sub2 = `${r.command} · best of ${r.settings.rounds} round(s) · load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} (shared machine) · underlay: no tx offloads, GRO · vtep --batch ${r.settings.vtepBatch}`;
  out.push(`<text x="10" y="38" fill="#555">${esc(sub1)}</text>`);
  out.push(`<text x="10" y="53" fill="#555">${esc(sub2)}</text>`);
  out.push(...body);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** "offloads tso,gso,gro,coalesce" (both nodes alike) or "n1 tso,gso · n2 none", from the vtep reports; undefined without vtep. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function offloadsOf(c: any): string | undefined {
  const reps = (c.vtep ?? []) as { node: string; offloads: string[] | null }[];
  if (reps.length === 0) return undefined;
  const text = (o: string[] | null) => (o === null ? '?' : o.length ? o.join(',') : 'none');
  const all = reps.map((x) => text(x.offloads));
  return all.every((x) => x === all[0]) ? `offloads ${all[0]}` : reps.map((x, k) => `${x.node} ${all[k]}`).join(' · ');
}

/** 1, 2, 2.5 or 5 × 10^k at or above v. */
function niceMax(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}
