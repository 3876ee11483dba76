import { once } from 'node:events';
import { connect } from 'node:net';
import t from 'tap';
import { checkedFetch } from '../helpers/contracts.js';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer } from '../helpers/server.js';
import { Catalogue } from '../../src/sim/catalogue.js';

const srv = await startServer();
t.teardown(() => srv.close());

t.test('health, liveness and readiness probes', async (t) => {
  for (const path of ['/health', '/live', '/health/live']) {
    const res = await checkedFetch(`${srv.url}${path}`);
    t.equal(res.status, 200, path);
    t.same(await res.json(), { status: 'ok' });
  }
  for (const path of ['/ready', '/health/ready']) t.equal((await checkedFetch(`${srv.url}${path}`)).status, 200, path);
});

t.test('GET /v1/models lists the catalogue in OpenAI shape', async (t) => {
  const res = await checkedFetch(`${srv.url}/v1/models`, { headers: OPENAI_HEADERS });
  t.equal(res.status, 200);
  const json = await res.json();
  t.equal(json.object, 'list');
  t.equal(json.data.length, new Catalogue().models.length);
  for (const m of json.data) {
    t.same(Object.keys(m), ['id', 'object', 'created', 'owned_by']);
    t.equal(m.object, 'model');
  }
  t.ok(json.data.some((m: { id: string }) => m.id === 'gpt-4o-mini'));
  t.ok(json.data.some((m: { id: string }) => m.id.startsWith('claude-')));
});

t.test('GET /v1/models/{id}: known, alias, unknown', async (t) => {
  const known = await checkedFetch(`${srv.url}/v1/models/gpt-4o-mini`);
  t.same(await known.json(), { id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' });
  const alias = await checkedFetch(`${srv.url}/v1/models/gpt-4o-mini-2024-07-18`);
  t.equal((await alias.json()).id, 'gpt-4o-mini-2024-07-18');
  const unknown = await checkedFetch(`${srv.url}/v1/models/nope`);
  t.equal(unknown.status, 404);
  t.equal((await unknown.json()).error.code, 'model_not_found');
});

t.test('config models extend and replace the catalogue', async (t) => {
  const custom = await startServer({
    models: [{ id: 'my-model', provider: 'openai', kind: 'chat', displayName: 'Mine', created: 1, contextWindow: 1000, maxOutputTokens: 4, profile: 'instant' }],
  });
  t.teardown(() => custom.close());
  const res = await post(`${custom.url}/v1/chat/completions`, { model: 'my-model', messages: [{ role: 'user', content: 'hi' }] });
  t.equal(res.status, 200);
  t.equal(res.json.usage.completion_tokens, 4, "the model's maxOutputTokens caps the answer");
});

t.test('drain: /ready turns 503 and in-flight requests complete', async (t) => {
  const local = await startServer({ timeScale: 1 });
  const agent = `${local.url}`;
  // A keep-alive connection opened before the drain can still ask /ready.
  const probe = connect(local.port, '127.0.0.1');
  await once(probe, 'connect');
  const inflight = post(`${agent}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true }, { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '200', 'x-sim-itl-ms': '20' });
  await new Promise((r) => setTimeout(r, 50));
  const drained = local.server.drain(5000);
  t.equal(local.server.draining, true);
  probe.write('GET /ready HTTP/1.1\r\nHost: x\r\n\r\n');
  const [answer] = await once(probe, 'data');
  t.match(answer.toString(), /^HTTP\/1\.1 503 [^]*\{"status":"draining"\}$/);
  probe.destroy();
  t.equal(await drained, true, 'drained before the deadline');
  const res = await inflight;
  t.equal(res.status, 200);
  t.match(res.text, /data: \[DONE\]\n\n$/);
  await local.close();
});

t.test('long answers are planned in the thread pool, with the same text', async (t) => {
  const pooled = await startServer({ response: { minTokens: 3000, maxTokens: 3000 }, pool: { offloadTokens: 1000 } }, { pool: true });
  const inline = await startServer({ response: { minTokens: 3000, maxTokens: 3000 } });
  t.teardown(async () => {
    await pooled.close();
    await inline.close();
  });
  const body = { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Write at length.' }] };
  const a = await post(`${pooled.url}/v1/chat/completions`, body);
  const b = await post(`${inline.url}/v1/chat/completions`, body);
  t.equal(a.json.usage.completion_tokens, 3000);
  t.equal(a.json.choices[0].message.content, b.json.choices[0].message.content);
  const s = await post(`${pooled.url}/v1/chat/completions`, { ...body, stream: true });
  t.equal((s.text.match(/"delta":\{"content":/g) ?? []).length, 3000, 'one chunk per token from a pooled plan');
});

t.test('at the drain deadline, running streams end with an in-band error the SDKs raise', async (t) => {
  const local = await startServer({ timeScale: 1 });
  const chatBody = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, stream: true };
  const headers = { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '10', 'x-sim-itl-ms': '100' };
  const chat = post(`${local.url}/v1/chat/completions`, chatBody, headers);
  const msg = post(`${local.url}/v1/messages`, { model: 'claude-haiku-4-5', max_tokens: 50, messages: chatBody.messages, stream: true }, { ...ANTHROPIC_HEADERS, 'x-sim-ttft-ms': '10', 'x-sim-itl-ms': '100' });
  const waiting = post(`${local.url}/v1/chat/completions`, { ...chatBody, stream: false }, { ...headers, 'x-sim-ttft-ms': '5000' });
  await new Promise((r) => setTimeout(r, 150));
  t.equal(await local.server.drain(100), false, 'the deadline passed');
  const [c, m, w] = await Promise.all([chat, msg, waiting]);
  t.match(c.text, /data: \{"error":\{"message":"The server is shutting down[^"]*","type":"server_error","param":null,"code":null\}\}\n\n$/);
  t.notMatch(c.text, /\[DONE\]/);
  t.match(m.text, /event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error","message":"The server is shutting down[^"]*"\},"request_id":"req_[^"]+"\}\n\n$/);
  t.equal(w.status, 503, 'a request not yet answered gets a plain 503');
  t.equal(w.json.error.type, 'server_error');
  t.equal(local.server.services.active, 0);
  await local.close();
});
