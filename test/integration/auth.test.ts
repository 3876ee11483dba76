import { createHash } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { maskKey, sameKey } from '../../src/edge/auth.js';
import { checkedFetch } from '../helpers/contracts.js';
import { post, startServer } from '../helpers/server.js';

const sha = (key: string): string => createHash('sha256').update(key).digest('hex');
const srv = await startServer({
  auth: {
    mode: 'keys',
    keys: [
      { key: 'sk-test-team-a', name: 'team-a' },
      { sha256: sha('sk-ant-hashed-key'), name: 'hashed' },
      { key: 'sk-mini-only-key', name: 'mini', models: ['gpt-4o-mini*', 'claude-haiku-*'] },
    ],
  },
  faults: [{ name: 'team-a-only', match: { key: 'team-a', header: { 'x-fail': 'yes' } }, fault: { type: 'server_error' } }],
});
t.teardown(() => srv.close());
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
const message = { model: 'claude-haiku-4-5', max_tokens: 2, messages: [{ role: 'user' as const, content: 'hi' }] };
const openai = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${srv.url}/v1`, maxRetries: 0, fetch: checkedFetch });
const anthropic = (apiKey: string) => new Anthropic({ apiKey, baseURL: srv.url, maxRetries: 0, fetch: checkedFetch });

t.test('the right key passes, by Bearer and by x-api-key, in the clear or as a digest', async (t) => {
  t.equal((await openai('sk-test-team-a').chat.completions.create(chat as OpenAI.ChatCompletionCreateParamsNonStreaming)).object, 'chat.completion');
  t.equal((await anthropic('sk-ant-hashed-key').messages.create(message)).type, 'message');
  const viaHeader = await post(`${srv.url}/v1/chat/completions`, chat, { 'content-type': 'application/json', 'x-api-key': 'sk-test-team-a' });
  t.equal(viaHeader.status, 200, 'x-api-key works on an OpenAI route too');
  t.equal((await fetch(`${srv.url}/v1/models`, { headers: { authorization: 'Bearer sk-test-team-a' } })).status, 200);
  t.equal((await post(`${srv.url}/v1/messages`, message, { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', authorization: 'Bearer sk-ant-hashed-key' })).status, 200, 'a bearer token works on an Anthropic route too');
});

t.test('a wrong or missing key: each vendor\'s 401 and the SDKs\' AuthenticationError', async (t) => {
  const wrong = await openai('sk-test-wrong-key').chat.completions.create(chat as OpenAI.ChatCompletionCreateParamsNonStreaming).catch((e: unknown) => e);
  t.ok(wrong instanceof OpenAI.AuthenticationError, 'openai: AuthenticationError');
  const e = wrong as InstanceType<typeof OpenAI.AuthenticationError>;
  t.same([e.status, e.code, e.type], [401, 'invalid_api_key', 'invalid_request_error']);
  t.match(e.message, /Incorrect API key provided: sk-te\*+-key\. You can find your API key at https:\/\/platform\.openai\.com\/account\/api-keys\./);
  const none = await post(`${srv.url}/v1/chat/completions`, chat, { 'content-type': 'application/json' });
  t.equal(none.status, 401);
  t.same([none.json.error.type, none.json.error.code], ['invalid_request_error', null]);
  t.match(none.json.error.message, /^You didn't provide an API key/);
  const bad = await anthropic('sk-ant-nope').messages.create(message).catch((e: unknown) => e);
  t.ok(bad instanceof Anthropic.AuthenticationError, 'anthropic: AuthenticationError');
  t.same((bad as InstanceType<typeof Anthropic.AuthenticationError>).error, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' }, request_id: (bad as InstanceType<typeof Anthropic.AuthenticationError>).requestID });
  const missing = await post(`${srv.url}/v1/messages`, message, { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' });
  t.same([missing.status, missing.json.error.type, missing.json.error.message], [401, 'authentication_error', 'x-api-key header is required']);
  t.equal((await fetch(`${srv.url}/v1/no-such-route`, { method: 'POST' })).status, 401, 'unknown routes need a key too');
  const metrics = await srv.server.services.metrics.text();
  t.match(metrics, /llm_auth_failures_total\{reason="invalid"\} 2/);
  t.match(metrics, /llm_auth_failures_total\{reason="missing"\} 3/);
});

t.test('public paths need no key; a key may be limited to some models', async (t) => {
  for (const path of ['/health', '/ready', '/metrics']) t.equal((await fetch(`${srv.url}${path}`)).status, 200, path);
  const mini = openai('sk-mini-only-key');
  t.equal((await mini.chat.completions.create(chat as OpenAI.ChatCompletionCreateParamsNonStreaming)).model, 'gpt-4o-mini');
  const other = await mini.chat.completions.create({ ...chat, model: 'gpt-4o' } as OpenAI.ChatCompletionCreateParamsNonStreaming).catch((e: unknown) => e);
  t.ok(other instanceof OpenAI.NotFoundError, 'a model outside the key: 404 as the vendor answers');
  t.match((other as Error).message, /The model `gpt-4o` does not exist or you do not have access to it/);
  const sonnet = await anthropic('sk-mini-only-key').messages.create({ ...message, model: 'claude-sonnet-4-5' }).catch((e: unknown) => e);
  t.ok(sonnet instanceof Anthropic.NotFoundError);
  t.equal((await anthropic('sk-mini-only-key').messages.create(message)).type, 'message');
});

t.test('fault rules match on the key\'s name', async (t) => {
  const headers = { 'content-type': 'application/json', 'x-fail': 'yes' };
  t.equal((await post(`${srv.url}/v1/chat/completions`, chat, { ...headers, authorization: 'Bearer sk-test-team-a' })).status, 500);
  t.equal((await post(`${srv.url}/v1/chat/completions`, chat, { ...headers, authorization: 'Bearer sk-mini-only-key' })).status, 200);
});

t.test('mode required takes any key; public paths can be changed', async (t) => {
  const s = await startServer({ auth: { mode: 'required', public: ['/health'] } });
  t.teardown(() => s.close());
  t.equal((await post(`${s.url}/v1/chat/completions`, chat, { 'content-type': 'application/json', authorization: 'Bearer whatever' })).status, 200);
  t.equal((await post(`${s.url}/v1/chat/completions`, chat, { 'content-type': 'application/json' })).status, 401);
  t.equal((await fetch(`${s.url}/health`)).status, 200);
  t.equal((await fetch(`${s.url}/metrics`)).status, 401, '/metrics is no longer public');
  t.equal((await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer any' } })).status, 200);
});

t.test('API_KEYS from the environment, and bad auth config', async (t) => {
  const config = loadConfig([], { API_KEYS: `sk-a, sha256:${sha('sk-b')}` });
  t.equal(config.auth.mode, 'keys');
  t.same(config.auth.keys, [{ key: 'sk-a' }, { sha256: sha('sk-b') }]);
  t.throws(() => loadConfig(['--auth.mode', 'keys'], {}), /auth\.keys: mode keys needs at least one key/);
  t.throws(() => loadConfig([], { LLMSIM_AUTH__KEYS: '[{"sha256":"abc"}]' }), /auth\.keys\.0\.sha256: 64 hex digits/);
});

t.test('keys are compared in constant time and masked as OpenAI masks them', async (t) => {
  const digest = createHash('sha256').update('k'.repeat(200_000)).digest();
  t.ok(sameKey('k'.repeat(200_000), digest));
  t.notOk(sameKey('k'.repeat(199_999), digest), 'a shorter key is just another digest: no length check to leak');
  // A byte-by-byte compare would answer a first-byte mismatch far sooner than a last-byte one.
  const time = (key: string): number => {
    const runs: number[] = [];
    for (let i = 0; i < 60; i++) {
      const start = process.hrtime.bigint();
      sameKey(key, digest);
      runs.push(Number(process.hrtime.bigint() - start));
    }
    return runs.sort((a, b) => a - b)[30]!;
  };
  const early = time(`x${'k'.repeat(199_999)}`);
  const late = time(`${'k'.repeat(199_999)}x`);
  t.ok(early / late > 0.5 && early / late < 2, `first-byte vs last-byte mismatch: ${(early / 1000).toFixed(0)} µs vs ${(late / 1000).toFixed(0)} µs`);
  t.equal(maskKey('sk-test-abcd1234'), 'sk-te*******1234');
  t.equal(maskKey('short'), '*****');
});

t.test('keys one character from a verified one are refused, and the verified one still passes between them', async (t) => {
  const as = (key: string) => post(`${srv.url}/v1/chat/completions`, chat, { 'content-type': 'application/json', authorization: `Bearer ${key}` });
  const statuses: number[] = [];
  for (const key of ['sk-test-team-a', 'sk-test-team-b', 'sk-test-team-a', 'rk-test-team-a', 'sk-test-team-a', 'sk-test-team-', 'sk-test-team-aa', 'sk-test-team-a']) statuses.push((await as(key)).status);
  t.same(statuses, [200, 401, 200, 401, 200, 401, 401, 200]);
});

t.test('a request with both key headers is checked with the answering dialect\'s own', async (t) => {
  const both = (good: 'authorization' | 'x-api-key') => ({
    'content-type': 'application/json',
    'anthropic-version': '2023-06-01',
    authorization: good === 'authorization' ? 'Bearer sk-test-team-a' : 'Bearer sk-test-wrong-key',
    'x-api-key': good === 'x-api-key' ? 'sk-test-team-a' : 'sk-test-wrong-key',
  });
  t.equal((await post(`${srv.url}/v1/chat/completions`, chat, both('authorization'))).status, 200, 'OpenAI: authorization');
  t.equal((await post(`${srv.url}/v1/chat/completions`, chat, both('x-api-key'))).status, 401);
  t.equal((await post(`${srv.url}/v1/messages`, message, both('x-api-key'))).status, 200, 'Anthropic: x-api-key');
  t.equal((await post(`${srv.url}/v1/messages`, message, both('authorization'))).status, 401);
});
