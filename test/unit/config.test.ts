import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, parseEnv, parseFlags, validateConfig } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'llmsim-config-'));
const yamlFile = join(dir, 'sim.yaml');
writeFileSync(yamlFile, 'port: 9000\ntimeScale: 0.5\nlogLevel: warn\npool:\n  threads: 2\n');
const jsonFile = join(dir, 'sim.json');
writeFileSync(jsonFile, JSON.stringify({ port: 9100, response: { minTokens: 4, maxTokens: 8 } }));

t.test('defaults', async (t) => {
  const c = loadConfig([], {});
  t.equal(c.host, '0.0.0.0');
  t.equal(c.port, 8080);
  t.equal(c.timeScale, 1);
  t.equal(c.bodyLimitBytes, 10 * 1024 * 1024);
  t.equal(c.pool.offloadTokens, 2048);
  t.ok(c.workers >= 1);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.pool), 'frozen');
});

t.test('precedence: defaults < file < env < flags', async (t) => {
  const fileOnly = loadConfig(['--config', yamlFile], {});
  t.equal(fileOnly.port, 9000);
  t.equal(fileOnly.timeScale, 0.5);
  t.equal(fileOnly.pool.threads, 2);
  t.equal(fileOnly.pool.offloadTokens, 2048, 'nested defaults survive a partial file section');
  const env = loadConfig([], { CONFIG: yamlFile, PORT: '9001', LLMSIM_TIME_SCALE: '0', LLMSIM_POOL__OFFLOAD_TOKENS: '100' });
  t.equal(env.port, 9001);
  t.equal(env.timeScale, 0);
  t.equal(env.logLevel, 'warn', 'file value kept where env is silent');
  t.equal(env.pool.offloadTokens, 100);
  t.equal(env.pool.threads, 2);
  const flags = loadConfig(['--port=9002', '--time-scale', '2', '--pool.threads', '3', '--config', jsonFile], { CONFIG: yamlFile, PORT: '9001', LOG_LEVEL: 'debug' });
  t.equal(flags.port, 9002);
  t.equal(flags.timeScale, 2);
  t.equal(flags.pool.threads, 3);
  t.equal(flags.logLevel, 'debug');
  t.equal(flags.response.maxTokens, 8, '--config picks the file over CONFIG');
});

t.test('flag and env parsing', async (t) => {
  t.same(parseFlags(['--access-log', 'false', '--seed', '7', '--workers=2', '--host', 'localhost']), { accessLog: false, seed: 7, workers: 2, host: 'localhost' });
  t.same(parseFlags(['--access-log']), { accessLog: true });
  t.same(parseEnv({ HOST: '127.0.0.1', WORKERS: '3', LLMSIM_DRAIN_TIMEOUT_MS: '10', UNRELATED: 'x' }), { host: '127.0.0.1', workers: 3, drainTimeoutMs: 10 });
});

t.test('invalid config names the option path', async (t) => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--port', '70000'], {}, /^config: port: /],
    [['--time-scale', '-1'], {}, /^config: timeScale: /],
    [['--pool.threads', 'many'], {}, /^config: pool\.threads: /],
    [['--bogus', '1'], {}, /^config: .*bogus/],
    [[], { LLMSIM_RESPONSE__MIN_TOKENS: '500' }, /^config: response\.minTokens: must not exceed response\.maxTokens$/],
    [['--config', join(dir, 'missing.yaml')], {}, /^config: cannot read config file/],
    [['stray'], {}, /^config: unexpected argument "stray"/],
  ];
  for (const [argv, env, message] of cases) {
    let error: unknown;
    try {
      loadConfig(argv, env);
    } catch (err) {
      error = err;
    }
    t.ok(error instanceof ConfigError, `${argv.join(' ') || JSON.stringify(env)} is rejected`);
    t.match((error as Error).message, message);
  }
});

t.test('models and profiles in config are validated', async (t) => {
  t.throws(() => validateConfig({ models: [{ id: 'x' }] }), /config: models\.0\./);
  const model = { id: 'm', provider: 'openai', kind: 'chat', displayName: 'M', created: 1, contextWindow: 10, maxOutputTokens: 5 };
  t.throws(() => validateConfig({ models: [{ ...model, profile: 'nope' }] }), /config: models\.0\.profile: unknown profile "nope"/);
  t.ok(validateConfig({ models: [{ ...model, profile: 'mine' }], profiles: { mine: { itlMs: 3 } } }));
  t.throws(() => validateConfig({ profiles: { bad: { itlMs: { type: 'uniform', min: 5, max: 1 } } } }), /config: profiles\.bad\.itlMs/);
  t.throws(() => validateConfig({ profiles: { bad: { itlMs: { type: 'empirical', p50: 5, p90: 4, p99: 6, p999: 7 } } } }), /config: profiles\.bad\.itlMs/);
  t.throws(() => validateConfig({ profiles: { bad: { stall: { probability: 2, durationMs: 1 } } } }), /config: profiles\.bad\.stall\.probability/);
});

t.test('a validated config validates again to itself (reloads check the parsed config)', async (t) => {
  const config = validateConfig({
    scenarios: { long: { phases: [{ for: '2h' }, { for: '90m', faults: [{ name: 'slow', fault: { type: 'delay', ms: '5m' } }] }] } },
    faults: {
      rules: [
        { name: 'nightly', when: { window: { from: '1h', until: '3h' } }, fault: { type: 'server_error' } },
        { name: 'daily', when: { periodic: { every: '24h', for: '10m' } }, fault: { type: 'server_error' } },
      ],
    },
  });
  t.same(validateConfig(JSON.parse(JSON.stringify(config))), config);
  t.throws(() => validateConfig({ scenarios: { x: { phases: [{ for: '200h' }] } } }), /scenarios\.x\.phases\.0\.for/, 'a timeline stretch is at most a week, written either way');
  t.throws(() => validateConfig({ faults: { rules: [{ name: 'd', fault: { type: 'delay', ms: '1h' } }] } }), /faults\.rules\.0\.fault\.ms/, 'a delay is at most 10 minutes, as a number is');
});

t.test('a configured model needs only id, provider, kind and profile', async (t) => {
  const { MODEL_CREATED } = await import('../../src/config/schema.js');
  const [chat, embedding] = validateConfig({
    models: [
      { id: 'my-chat', provider: 'openai', kind: 'chat', profile: 'fast' },
      { id: 'my-embedder', provider: 'openai', kind: 'embedding', profile: 'fast' },
    ],
  }).models;
  t.same(chat, { id: 'my-chat', aliases: [], provider: 'openai', kind: 'chat', displayName: 'my-chat', created: MODEL_CREATED, contextWindow: 128_000, maxOutputTokens: 16_384, profile: 'fast' });
  t.equal(embedding!.embeddingDimensions, 1536, 'an embedding model gets dimensions');
  t.throws(() => validateConfig({ models: [{ id: 'x', provider: 'openai', kind: 'chat' }] }), /config: models\.0\.profile/, 'the profile is still required');
});
