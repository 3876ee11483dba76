import type { GatewayResult, StepResult } from './scenarios/gateway.js';

/**
 * The gateway benchmark's HTML report: one self-contained page (inline SVG and CSS, no script,
 * nothing fetched) with, per step, latency CDFs direct vs gateway, the paired overhead's
 * histograms, TTFT and inter-event CDFs for streams, answers per second over the run, and for a
 * sweep or ramp the saturation curve. Drawn from the result's quantiles and per-second counts
 * (`StepResult.plots`), which the JSON result keeps too.
 */

const W = 520;
const H = 260;
const PAD = { left: 56, right: 16, top: 28, bottom: 40 };
const COLOURS = { direct: '#1f77b4', gateway: '#d62728', in: '#2ca02c', first: '#9467bd', chunk: '#ff7f0e' } as const;

interface Series {
  readonly name: string;
  readonly colour: string;
  readonly points: readonly (readonly [number, number])[];
}

const esc = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/** One chart: lines (`kind: 'line'`) or bars (`'bars'`, each series' points as bar tops at x). */
function chart(title: string, xLabel: string, yLabel: string, series: readonly Series[], kind: 'line' | 'bars' = 'line'): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys)];
  const sx = (x: number): number => PAD.left + ((x - x0) / (x1 - x0 || 1)) * (W - PAD.left - PAD.right);
  const sy = (y: number): number => H - PAD.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - PAD.top - PAD.bottom);
  const grid = [
    ...ticks(x0, x1).map((x) => `<line x1="${sx(x)}" x2="${sx(x)}" y1="${PAD.top}" y2="${H - PAD.bottom}" class="grid"/><text x="${sx(x)}" y="${H - PAD.bottom + 14}" text-anchor="middle">${fmt(x)}</text>`),
    ...ticks(y0, y1).map((y) => `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${sy(y)}" y2="${sy(y)}" class="grid"/><text x="${PAD.left - 6}" y="${sy(y) + 4}" text-anchor="end">${fmt(y)}</text>`),
  ].join('');
  const barWidth = Math.max(1, (W - PAD.left - PAD.right) / Math.max(1, new Set(xs).size) / series.length - 1);
  const marks = series
    .map((s, i) =>
      kind === 'line'
        ? `<polyline class="series" fill="none" stroke="${s.colour}" stroke-width="2" points="${s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`
        : s.points.map(([x, y]) => `<rect class="series" fill="${s.colour}" x="${(sx(x) + i * barWidth).toFixed(1)}" y="${sy(y).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(sy(y0) - sy(y)).toFixed(1)}"/>`).join(''),
    )
    .join('');
  let at = PAD.left + 8;
  const legend = series
    .map((s) => {
      const item = `<rect x="${at}" y="8" width="12" height="12" fill="${s.colour}"/><text x="${at + 16}" y="18">${esc(s.name)}</text>`;
      at += 28 + 6 * s.name.length;
      return item;
    })
    .join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${grid}<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${H - PAD.bottom}" class="axis"/><line x1="${PAD.left}" x2="${W - PAD.right}" y1="${H - PAD.bottom}" y2="${H - PAD.bottom}" class="axis"/>${marks}${legend}<text x="${(PAD.left + W - PAD.right) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text><text transform="translate(14 ${(PAD.top + H - PAD.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text></svg></figure>`;
}

/** A CDF from 201 quantiles: x the value, y the share of requests at or below it (up to p99.5, where the tail stops being one request). */
const cdf = (q: readonly number[]): [number, number][] => q.slice(0, 200).map((v, i) => [v, i / 200]);

/**
 * Histograms of the distributions 201 quantiles each describe (each quantile step holds 0.5 % of
 * the mass), on shared bins over p1..p99 of them all: a few outliers would squash the rest into
 * one bin.
 */
function histograms(qs: readonly (readonly number[])[], bins = 30): [number, number][][] {
  const kept = qs.filter((q) => q.length > 0);
  if (kept.length === 0) return qs.map(() => []);
  const lo = Math.min(...kept.map((q) => q[2]!));
  const hi = Math.max(...kept.map((q) => q[198]!));
  return qs.map((q) => (q.length === 0 ? [] : histogram(q, lo, hi, bins)));
}

function histogram(q: readonly number[], lo: number, hi: number, bins: number): [number, number][] {
  const width = (hi - lo) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of q.slice(2, 199)) counts[Math.max(0, Math.min(bins - 1, Math.floor((v - lo) / width)))]! += 0.5;
  return counts.map((c, i) => [lo + i * width, c]);
}

function step(s: StepResult): string {
  const { plots } = s;
  const sides = (title: string, x: string, q: { direct: number[]; gateway: number[] } | undefined): string =>
    q === undefined ? '' : chart(title, x, 'share of requests', [{ name: 'direct', colour: COLOURS.direct, points: cdf(q.direct) }, { name: 'gateway', colour: COLOURS.gateway, points: cdf(q.gateway) }]);
  const [start, first, chunk] = histograms([plots.overhead.start, plots.overhead.firstToken, plots.overhead.chunk ?? []]);
  const overhead: Series[] = [
    { name: 'in (send → simulator)', colour: COLOURS.in, points: start! },
    { name: 'first token', colour: COLOURS.first, points: first! },
    ...(plots.overhead.chunk ? [{ name: 'each event', colour: COLOURS.chunk, points: chunk! }] : []),
  ];
  const rows = (['direct', 'gateway'] as const).map((via) => {
    const v = s[via];
    return `<tr><th>${via}</th><td>${v.requests}</td><td>${v.rps}</td><td>${v.latencyMs.p50}</td><td>${v.latencyMs.p99}</td><td>${v.stream?.ttftMs.p50 ?? '–'}</td><td>${v.stream?.itlMs.p50 ?? '–'}</td><td>${esc(JSON.stringify(v.statuses))}</td></tr>`;
  });
  const o = s.overhead;
  return `<section><h2>${esc(s.load)}</h2>
<table><tr><th></th><th>requests</th><th>req/s (2xx)</th><th>p50 ms</th><th>p99 ms</th><th>TTFT p50 ms</th><th>ITL p50 ms</th><th>statuses</th></tr>${rows.join('')}</table>
<p>Added by the gateway per request (paired by <code>x-request-id</code>), ms: in p50 ${o.start.p50} / p99 ${o.start.p99}; first token p50 ${o.firstToken.p50} / p99 ${o.firstToken.p99}${o.chunk ? `; each event p50 ${o.chunk.p50} / p99 ${o.chunk.p99}` : ''}.</p>
<div class="charts">${sides('Latency CDF', 'ms from the (intended) send to the last byte', plots.latency)}${chart('Paired overhead (p1–p99)', 'ms added by the gateway', '% of requests', overhead, 'bars')}${sides('Time to first token CDF', 'ms', plots.ttft)}${sides('Inter-event gaps CDF (pooled)', 'ms', plots.itl)}</div></section>`;
}

/** Answers per second over the whole run, phase after phase. */
function timeline(r: GatewayResult): string {
  const phases = r.steps.flatMap((s) => s.plots.timeline);
  const points = (via: 'direct' | 'gateway', what: 'ok' | 'failed'): [number, number][] => phases.filter((p) => p.via === via).flatMap((p) => p[what].map((n, i): [number, number] => [p.start + i, n]));
  const series: Series[] = [
    { name: 'direct 2xx/s', colour: COLOURS.direct, points: points('direct', 'ok') },
    { name: 'gateway 2xx/s', colour: COLOURS.gateway, points: points('gateway', 'ok') },
  ];
  const failed = [...points('direct', 'failed'), ...points('gateway', 'failed')];
  if (failed.some(([, n]) => n > 0)) series.push({ name: 'errors/s', colour: '#7f7f7f', points: failed.sort((a, b) => a[0] - b[0]) });
  const rss = r.steps.flatMap((s) => s.plots.rss ?? []);
  return chart('Throughput and errors over the run', 's from the start', 'answers per second', series, 'bars') + (rss.length === 0 ? '' : chart('Gateway RSS over its phases', 's from the start', 'MB', [{ name: 'RSS', colour: COLOURS.gateway, points: rss }]));
}

/** Offered load against what came back, per step: where the two part is the knee. */
function saturation(r: GatewayResult): string {
  if (r.steps.length < 2) return '';
  const offered = (s: StepResult): number => Number(s.load.split(' ')[0]);
  return `${chart('Saturation: throughput by offered load', r.steps[0]!.load.endsWith('lanes') ? 'lanes' : 'offered req/s', 'req/s (2xx)', [
    { name: 'direct', colour: COLOURS.direct, points: r.steps.map((s) => [offered(s), s.direct.rps]) },
    { name: 'gateway', colour: COLOURS.gateway, points: r.steps.map((s) => [offered(s), s.gateway.rps]) },
  ])}${chart('Saturation: p99 latency by offered load', r.steps[0]!.load.endsWith('lanes') ? 'lanes' : 'offered req/s', 'p99 ms', [
    { name: 'direct', colour: COLOURS.direct, points: r.steps.map((s) => [offered(s), s.direct.latencyMs.p99]) },
    { name: 'gateway', colour: COLOURS.gateway, points: r.steps.map((s) => [offered(s), s.gateway.latencyMs.p99]) },
  ])}`;
}

export function renderReport(r: GatewayResult, title = 'llm-simulator gateway benchmark'): string {
  const warnings = r.warnings.length === 0 ? '<p class="ok">No warnings: every answer 2xx, every request paired, nothing fell behind.</p>' : `<ul class="warnings">${r.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-weight:600}
svg text{font-size:11px;fill:#333}.grid{stroke:#eee}.axis{stroke:#888}.warnings li{color:#b00}.ok{color:#070}
</style></head><body><h1>${esc(title)}</h1>
${warnings}${r.knee !== undefined ? `<p>Knee: <b>${r.knee} req/s</b>, the last rate of the ramp kept up with.</p>` : ''}
<div class="charts">${timeline(r)}${saturation(r)}</div>
${r.steps.map(step).join('\n')}
<p>Definitions and method: README, "Gateway benchmark".</p></body></html>
`;
}
