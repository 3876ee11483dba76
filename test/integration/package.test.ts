import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import t from 'tap';
import OpenAI from 'openai';
import { RANKED_ENCODINGS, rankTableFile } from '../../src/sim/ranks.js';

// The package as a user gets it: `npm pack` (of the build `npm test` made), installed into an
// empty folder from the tarball, started through its `bin` as `npx llm-simulator`.

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const dir = mkdtempSync(join(tmpdir(), 'llmsim-pack-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd: string) => spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 180_000 });

t.test('npm pack, install the tarball, run it with npx', async (t) => {
  // dist/ is already built by `npm test`'s pretest: the scripts (prepare = build) are not run again.
  const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  t.equal(packed.status, 0, `npm pack: ${packed.stderr.slice(-500)}`);
  const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  const paths = files.map((f) => f.path);
  t.ok(paths.includes('dist/src/main.js') && paths.includes('dist/workers/plan.js') && paths.includes('README.md') && paths.includes('dist/bench/run.js'), 'the tarball holds the server, its thread tasks, the benchmark harness and the README');
  const rankFiles = RANKED_ENCODINGS.map((encoding) => relative(ROOT, rankTableFile(encoding)));
  t.ok(rankFiles.every((file) => paths.includes(file)), `and the tokenizers' rank tables the build wrote (${rankFiles.join(', ')})`);
  t.notOk(paths.some((p) => p.startsWith('test/') || p.startsWith('src/') || p.startsWith('bench/') || p.endsWith('.map')), 'and no tests, sources, benchmarks or source maps');

  const app = join(dir, 'app');
  run('mkdir', ['-p', app], dir);
  run('npm', ['init', '-y'], app);
  const installed = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, filename)], app);
  t.equal(installed.status, 0, `npm install of the tarball: ${installed.stderr.slice(-500)}`);

  const version = run('npx', ['--no-install', 'llm-simulator', '--version'], app);
  t.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version, 'npx llm-simulator --version');
  t.match(run('npx', ['--no-install', 'llm-simulator', '--help'], app).stdout, /--compression\.enabled/, 'and --help lists the config flags');
  // The benchmark harness ships too: `llm-simulator bench …` reaches bench/run.ts.
  const bench = run('npx', ['--no-install', 'llm-simulator', 'bench', 'compare'], app);
  t.match(bench.stderr, /compare needs two result files/, 'npx llm-simulator bench runs the harness');

  // The bin npx runs, started directly so that signals reach the simulator, not an npm process.
  const server = spawn(join(app, 'node_modules/.bin/llm-simulator'), ['--host', '127.0.0.1', '--port', '0', '--workers', '1', '--warm-up', 'false'], { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void (server.exitCode === null && server.kill('SIGKILL')));
  const port = await new Promise<number>((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error('the installed server did not log "listening" within 60 s')), 60_000);
    server.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"msg":"llm-simulator listening"[^\n]*"port":(\d+)|"port":(\d+)[^\n]*"msg":"llm-simulator listening"/.exec(buf);
      if (m !== null) (clearTimeout(timer), res(Number(m[1] ?? m[2])));
    });
  });
  const openai = new OpenAI({ apiKey: 'sk-packed', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  const chat = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'installed?' }] });
  t.ok(chat.choices[0]!.message.content, 'the installed server answers the openai client');
  server.kill('SIGTERM');
  t.equal(await new Promise((res) => server.on('exit', (code) => res(code))), 0, 'and stops cleanly on SIGTERM');
});
