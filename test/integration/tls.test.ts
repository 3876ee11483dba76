import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';
import { Agent, fetch as undiciFetch } from 'undici';
import { MAIN } from '../helpers/cluster.js';
import { startServer } from '../helpers/server.js';

// https with a certificate from scripts/dev-cert.sh, called by the official SDKs that trust its CA.

const dir = mkdtempSync(join(tmpdir(), 'llmsim-tls-'));
const made = spawnSync('bash', [new URL('../../scripts/dev-cert.sh', import.meta.url).pathname, dir], { encoding: 'utf8' });

t.test('the SDKs over https, trusting the dev CA', { skip: made.status === 0 ? false : `scripts/dev-cert.sh failed (is openssl installed?): ${made.stderr}` }, async (t) => {
  const s = await startServer({ tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }, warmUp: true });
  t.teardown(() => s.close());
  const base = `https://127.0.0.1:${s.port}`;
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(dir, 'ca.pem')) } });
  t.teardown(() => dispatcher.close());
  const trusting = ((url: string, init: object) => undiciFetch(url, { ...init, dispatcher })) as unknown as typeof fetch;

  const openai = new OpenAI({ apiKey: 'sk-tls', baseURL: `${base}/v1`, fetch: trusting, maxRetries: 0 });
  const chat = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'over tls' }] });
  t.ok(chat.choices[0]!.message.content, 'openai: a completion over https');
  let streamed = 0;
  for await (const chunk of await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream over tls' }], stream: true })) streamed += chunk.choices[0]?.delta?.content ? 1 : 0;
  t.ok(streamed > 0, 'and a stream');

  const anthropic = new Anthropic({ apiKey: 'sk-ant-tls', baseURL: base, fetch: trusting, maxRetries: 0 });
  const message = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'over tls' }] });
  t.equal(message.type, 'message', 'anthropic: a message over https');

  // A client that does not trust the CA is refused by its own TLS check.
  const untrusting = new OpenAI({ apiKey: 'sk-tls', baseURL: `${base}/v1`, maxRetries: 0 });
  const refused = (await untrusting.models.list().then(
    () => null,
    (err: unknown) => err,
  )) as (Error & { cause?: { cause?: { code?: string } } }) | null;
  t.ok(refused instanceof OpenAI.APIConnectionError, 'an untrusted certificate fails the connection');
  t.equal(refused?.cause?.cause?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'in its TLS check');
  t.equal((await fetch(`http://127.0.0.1:${s.port}/v1/models`).catch(() => null))?.status ?? 'no http answer', 'no http answer', 'plain http is not served on the https port');
});

t.test('a missing certificate stops start-up with exit 2, naming the option', async (t) => {
  const r = spawnSync(process.execPath, [MAIN, '--port', '0', '--tls.cert', '/nonexistent/cert.pem', '--tls.key', '/nonexistent/key.pem'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2);
  t.match(r.stderr, /^config: tls\.cert: no readable file at this path/);
  const half = spawnSync(process.execPath, [MAIN, '--check-config', '--tls.cert', join(dir, 'cert.pem')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(half.status, 2);
  t.match(half.stderr, /^config: tls\.key: give both tls\.cert and tls\.key, or neither/);
});
