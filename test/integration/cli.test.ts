import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { MAIN } from '../helpers/cluster.js';

// The command line's own flags, on the built entry point in a real process.

const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH } });
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const kebab = (path: string) => path.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

t.test('--help lists every config key as a flag with its default, from the schema', async (t) => {
  for (const flag of ['--help', '-h']) {
    const r = run(flag);
    t.equal(r.status, 0, `${flag} exits 0`);
    t.match(r.stdout, `llm-simulator ${version}`);
  }
  const help = run('--help').stdout;
  const lines = help.split('\n');
  // Every leaf of the defaults is a flag (maps and lists as one JSON flag), with its default on its line.
  const leaves = (obj: object, prefix = ''): [string, unknown][] =>
    Object.entries(obj).flatMap(([k, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && !['profiles', 'models', 'scenarios', 'routes'].includes(k) ? leaves(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]]));
  for (const [path, value] of leaves(validateConfig({ workers: 2 }))) {
    const line = lines.find((l) => l.trimStart().startsWith(`--${kebab(path)} <`));
    t.ok(line, `--help lists --${kebab(path)}`);
    if (path !== 'workers') t.ok(line?.trimEnd().endsWith(JSON.stringify(value)), `with its default ${JSON.stringify(value)}`);
  }
  t.match(help, /--log-level <fatal\|error\|warn\|info\|debug\|trace\|silent>/, 'choices are listed');
});

t.test('--version, --print-config, --check-config', async (t) => {
  for (const flag of ['--version', '-v']) t.same({ status: run(flag).status, out: run(flag).stdout }, { status: 0, out: `${version}\n` }, flag);

  const printed = run('--print-config', '--port', '9999', '--admin.key', 'admin-secret-1234', '--auth.mode', 'keys', '--auth.keys', '[{"key":"sk-test-abcdefghijkl"}]');
  t.equal(printed.status, 0);
  const config = JSON.parse(printed.stdout);
  t.equal(config.port, 9999, 'the merged config');
  t.equal(config.admin.key, '[redacted]', 'the admin key hidden');
  t.notMatch(printed.stdout, /sk-test-abcdefghijkl/, 'API keys masked');

  const ok = run('--check-config', '--port', '9000');
  t.same({ status: ok.status, out: ok.stdout }, { status: 0, out: 'config ok\n' });
  const bad = run('--check-config', '--port', '-1');
  t.equal(bad.status, 2, 'an invalid config exits 2');
  t.match(bad.stderr, /^config: port: /, 'naming the option');
});
