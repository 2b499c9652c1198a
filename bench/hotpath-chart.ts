/**
 * bench/results/hotpath.svg from the hotpath.json result: one group per case, a bar for vtep and one for
 * the allocating baseline on a log scale, the target (if any) as a red tick; GSO rows (segments per second)
 * also print the Gbit/s of TCP payload beside each bar. Hand-written SVG, no deps.
 */

export interface ChartRow {
  name: string;
  vtepOps: number;
  baselineOps: number;
  target: number | null;
  pass: boolean | null;
  /** Gbit/s of TCP payload (GSO rows); absent or null for the others. */
  vtepGbps?: number | null;
  baselineGbps?: number | null;
}

export interface ChartInput {
  date: string;
  node: string;
  cpus: string | undefined;
  quick: boolean;
  rows: ChartRow[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(n >= 1e8 ? 0 : 2)} M/s` : `${(n / 1e3).toFixed(0)} k/s`;
}

export function renderHotpathSvg(r: ChartInput): string {
  const labelW = 330;
  const plotW = 560;
  const left = labelW + 10;
  const rowH = 30;
  const top = 74;
  const height = top + r.rows.length * rowH + 40;
  const width = left + plotW + 110;
  const all = r.rows.flatMap((x) => [x.vtepOps, x.baselineOps, x.target ?? x.vtepOps]).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all, 1e5)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, 1e6)));
  const x = (v: number): number => left + (plotW * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="10" y="18" font-size="14" font-weight="bold">vtep hot path: packets (or lookups, TCP segments) per second, log scale</text>`);
  out.push(
    `<text x="10" y="34" fill="#555">${esc(`${r.date} · node ${r.node} · ${r.cpus ?? '?'}${r.quick ? ' · --quick' : ''} · first row: machine calibration (plain 50-byte header write loop vs allocating)`)}</text>`,
  );
  // decade grid
  for (let d = lo; d <= hi; d *= 10) {
    const gx = x(d).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${height - 30}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${height - 16}" text-anchor="middle" fill="#555">${esc(fmt(d))}</text>`);
  }
  r.rows.forEach((row, i) => {
    const y = top + i * rowH;
    const verdict = row.pass === false ? ' ✗' : row.pass === true ? ' ✓' : '';
    out.push(`<text x="${labelW}" y="${y + 14}" text-anchor="end"${row.pass === false ? ' fill="#b00"' : ''}>${esc(row.name + verdict)}</text>`);
    const bars: [number, string, number | null | undefined][] = [
      [row.vtepOps, '#2b6cb0', row.vtepGbps],
      [row.baselineOps, '#a0aec0', row.baselineGbps],
    ];
    bars.forEach(([v, color, gbps], k) => {
      const by = y + 3 + k * 11;
      const label = gbps === null || gbps === undefined ? fmt(v) : `${fmt(v)} · ${gbps.toFixed(1)} Gbit/s`;
      out.push(`<rect x="${left}" y="${by}" width="${Math.max(1, x(v) - left).toFixed(1)}" height="10" fill="${color}"/>`);
      out.push(`<text x="${(x(v) + 4).toFixed(1)}" y="${by + 9}" fill="#333">${esc(label)}</text>`);
    });
    if (row.target !== null) {
      const tx = x(row.target).toFixed(1);
      out.push(`<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + 26}" stroke="#e53e3e" stroke-width="2"/>`);
    }
  });
  out.push(`<g transform="translate(${left},${top - 28})">`);
  out.push(`<rect x="0" y="0" width="10" height="10" fill="#2b6cb0"/><text x="14" y="9">vtep (in place)</text>`);
  out.push(`<rect x="110" y="0" width="10" height="10" fill="#a0aec0"/><text x="124" y="9">allocating baseline</text>`);
  out.push(`<line x1="245" y1="0" x2="245" y2="10" stroke="#e53e3e" stroke-width="2"/><text x="251" y="9">target</text>`);
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
