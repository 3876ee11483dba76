import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { renderReport } from '../../bench/report.js';
import { gatewayScenario } from '../../bench/scenarios/gateway.js';
import { startCluster } from '../helpers/cluster.js';
import { delayingProxy } from '../helpers/proxy.js';

// The gateway benchmark's HTML report, from a real run (a simulator and a pass-through proxy in
// their own processes), opened in headless Chromium: no errors, nothing fetched from anywhere,
// every plot drawn with data. The page and a screenshot stay in .tap/gateway-report/.

const CHROMIUM = '/usr/bin/chromium';
const OUT = join(process.cwd(), '.tap', 'gateway-report');

t.test('the report of a streamed sweep opens in Chromium with every plot drawn', { skip: existsSync(CHROMIUM) ? false : `no browser: ${CHROMIUM} is missing (Debian package chromium; .ci/run installs it)` }, async (t) => {
  const sim = await startCluster(['--workers', '1', '--warm-up', 'false', '--time-scale', '0.05', '--bench-records', '100000', '--access-log', 'false']);
  t.teardown(() => void sim.proc.kill('SIGKILL'));
  const proxy = await delayingProxy(t, sim.url, 2);
  // A closed-loop sweep: two steps whatever the machine's load (a ramp may end early when something falls behind).
  const result = await gatewayScenario({ sim: sim.url, target: proxy.url, stream: true, concurrency: [1, 2], durationS: 1, rounds: 1 });
  t.equal(result.steps.length, 2, 'both steps ran');
  const html = renderReport(result);
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, 'report.html');
  writeFileSync(file, html);
  t.notMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'self-contained: no script, no address but the SVG namespace');

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  t.teardown(() => browser.close());
  const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  tab.on('pageerror', (err) => errors.push(err.message));
  tab.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
  tab.on('request', (r) => requests.push(r.url()));
  await tab.goto(pathToFileURL(file).href);
  const figures = await tab.evaluate(() =>
    [...document.querySelectorAll('figure')].map((f) => ({
      title: f.querySelector('figcaption')?.textContent ?? '',
      marks: f.querySelectorAll('svg .series').length,
      drawn: [...f.querySelectorAll('svg polyline.series')].every((p) => (p.getAttribute('points') ?? '').split(' ').length > 10),
      width: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
    })),
  );
  const titles = figures.map((f) => f.title);
  for (const want of ['Throughput and errors over the run', 'Saturation: throughput by offered load', 'Saturation: p99 latency by offered load', 'Latency CDF', 'Paired overhead (p1–p99)', 'Time to first token CDF', 'Inter-event gaps CDF (pooled)']) t.ok(titles.includes(want), `a plot: ${want}`);
  t.equal(titles.filter((x) => x === 'Latency CDF').length, 2, 'a latency CDF per step');
  t.ok(figures.every((f) => f.marks > 0 && f.width > 100), 'every plot has marks and is laid out');
  t.ok(figures.filter((f) => f.title.endsWith('CDF')).every((f) => f.drawn), 'every CDF line has its points');
  t.same(errors, [], 'no page errors');
  t.same(requests, [pathToFileURL(file).href], 'nothing fetched but the page itself');
  await tab.screenshot({ path: join(OUT, 'report.png'), fullPage: true });
  t.ok(existsSync(join(OUT, 'report.png')), `screenshot in ${OUT}`);
});
