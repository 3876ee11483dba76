import { readFileSync } from 'node:fs';
import t from 'tap';
import { anthropic } from '../../src/api/anthropic/errors.js';
import { openai } from '../../src/api/openai/errors.js';
import { validateConfig } from '../../src/config/load.js';
import { ERROR_STATUS, SimError, type ErrorCode } from '../../src/errors.js';
import { Catalogue } from '../../src/sim/catalogue.js';
import { modelRows } from '../../scripts/model-table.js';
import { faultRows } from '../../scripts/fault-table.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

t.test('every internal error code maps in both dialects and is in the README catalogue', async (t) => {
  for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
    const err = new SimError(code, 'message', 'param');
    const o = JSON.parse(openai.errorBody(err, 'req_1')).error;
    const a = JSON.parse(anthropic.errorBody(err, 'req_1'));
    t.ok(o.type && a.error.type, `${code} has wire types`);
    const oCode = o.code === null ? 'null' : o.code;
    const [oStatus, aStatus] = [openai.status(err), anthropic.status(err)];
    const status = oStatus === aStatus ? `${oStatus}` : `${oStatus} (Anthropic ${aStatus})`;
    const row = `| \`${code}\` | ${status} | \`${o.type}\` | \`${oCode}\` | \`${a.error.type}\` |`;
    t.ok(readme.includes(row), `README lists ${row}`);
  }
});

t.test('every config key is in the README table with its default', async (t) => {
  const defaults = validateConfig({});
  const leaves = (obj: object, prefix = ''): [string, unknown][] =>
    Object.entries(obj).flatMap(([k, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? leaves(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]]));
  for (const [key, value] of leaves(defaults)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${key}\` |`));
    t.ok(row, `README documents ${key}`);
    if (key === 'workers') t.match(row, /number of CPUs/);
    else t.ok(row!.includes(`| \`${JSON.stringify(value).replace(/^"|"$/g, '')}\` |`), `README gives ${key}'s default ${JSON.stringify(value)}`);
  }
});

t.test('the README fault table is the fault catalogue, row for row', async (t) => {
  const documented = readme.split('\n').filter((line) => /^\| `[a-z_]+` \| (error|transport|stream) \|/.test(line));
  t.same(documented, faultRows());
});

t.test('the README preset table is the presets', async (t) => {
  const { PRESETS } = await import('../../src/faults/scenarios.js');
  const section = readme.slice(readme.indexOf('| preset | what it does |'));
  const rows = section.split('\n').slice(2);
  const documented = rows.slice(0, rows.findIndex((l) => !l.startsWith('|'))).map((l) => l.slice(3, l.indexOf('`', 3)));
  t.same(documented, Object.keys(PRESETS));
});

t.test('the README model table is the catalogue', async (t) => {
  for (const row of modelRows(new Catalogue().models)) t.ok(readme.includes(row), row);
});

t.test('every route and metric is documented', async (t) => {
  const { routeTable } = await import('../../src/http/app.js');
  const endpointRows = readme.split('\n').filter((line) => /^\| (GET|POST|DELETE|HEAD|GET, HEAD) \| `/.test(line));
  for (const { method, path } of routeTable()) {
    const documented = `\`${path.replace(/:(\w+)/g, '{$1}')}\``;
    t.ok(
      endpointRows.some((row) => row.split(' | ')[0]!.slice(2).split(', ').includes(method) && row.split(' | ')[1]!.split(', ').includes(documented)),
      `README's endpoint table lists ${method} ${documented}`,
    );
  }
  const served = new Set(routeTable().map((r) => `${r.method} \`${r.path.replace(/:(\w+)/g, '{$1}')}\``));
  for (const row of endpointRows) {
    const [methods, paths] = row.split(' | ');
    for (const method of methods!.slice(2).split(', ')) for (const path of paths!.split(', ')) t.ok(served.has(`${method} ${path}`), `the server answers ${method} ${path}, as the README says`);
  }
  const metrics = await new (await import('../../src/metrics/metrics.js')).Metrics().snapshot();
  for (const m of metrics) t.ok(readme.includes(`| \`${m.name}\` |`), m.name);
});

t.test('the README preset table is the gateway benchmark\'s presets, row for row', async (t) => {
  const { PRESETS } = await import('../../bench/scenarios/gateway.js');
  // Indented: the table sits in a list item.
  const documented = readme.split('\n').map((line) => line.trim()).filter((line) => /^\| `--preset [a-z]+` \|/.test(line));
  const expected = Object.entries(PRESETS).map(([name, p]) => `| \`--preset ${name}\` | ${p.question} | \`${p.args.join(' ')}\` |`);
  t.same(documented, expected);
});
