import { connect } from 'node:net';
import t from 'tap';
import { FAULT_TYPES, FAULTS, isErrorFault, type ErrorFault } from '../../src/faults/catalogue.js';
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, post, startServer, until } from '../helpers/server.js';
import { sseEvents } from '../helpers/contracts.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fault me' }], max_tokens: 8 };
const message = { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'fault me' }] };
const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';

/** What each vendor answers for each error fault: [OpenAI status, type, code], [Anthropic status, error.type]. */
const EXPECTED: Record<ErrorFault, { openai: [number, string, string | null]; anthropic: [number, string] }> = {
  rate_limit: { openai: [429, 'requests', 'rate_limit_exceeded'], anthropic: [429, 'rate_limit_error'] },
  quota_exceeded: { openai: [429, 'insufficient_quota', 'insufficient_quota'], anthropic: [400, 'invalid_request_error'] },
  invalid_api_key: { openai: [401, 'invalid_request_error', 'invalid_api_key'], anthropic: [401, 'authentication_error'] },
  permission_denied: { openai: [403, 'invalid_request_error', null], anthropic: [403, 'permission_error'] },
  model_not_found: { openai: [404, 'invalid_request_error', 'model_not_found'], anthropic: [404, 'not_found_error'] },
  context_length_exceeded: { openai: [400, 'invalid_request_error', 'context_length_exceeded'], anthropic: [400, 'invalid_request_error'] },
  server_error: { openai: [500, 'server_error', null], anthropic: [500, 'api_error'] },
  bad_gateway: { openai: [502, '', null], anthropic: [502, ''] },
  overloaded: { openai: [503, 'server_error', null], anthropic: [529, 'overloaded_error'] },
  service_unavailable: { openai: [503, 'server_error', null], anthropic: [503, 'api_error'] },
  gateway_timeout: { openai: [504, 'server_error', null], anthropic: [504, 'timeout_error'] },
  request_too_large: { openai: [413, 'invalid_request_error', null], anthropic: [413, 'request_too_large'] },
};

const srv = await startServer({ timeScale: 1 });
t.teardown(() => srv.close());
const fault = (spec: string, headers: Record<string, string> = OPENAI_HEADERS) => ({ ...headers, 'x-sim-fault': spec, 'x-sim-ttft-ms': '5', 'x-sim-itl-ms': '2' });

t.test('every error fault, in both dialects, with its status, body and headers', async (t) => {
  t.same(FAULT_TYPES.filter(isErrorFault).sort(), Object.keys(EXPECTED).sort(), 'the test knows every error fault');
  for (const type of FAULT_TYPES.filter(isErrorFault)) {
    const want = EXPECTED[type];
    const o = await post(`${srv.url}${CHAT}`, chat, fault(type));
    const a = await post(`${srv.url}${MESSAGES}`, message, fault(type, ANTHROPIC_HEADERS));
    t.equal(o.status, want.openai[0], `${type}: OpenAI status`);
    t.equal(a.status, want.anthropic[0], `${type}: Anthropic status`);
    t.equal(o.headers.get('x-sim-fault-injected'), `header/${type}`);
    if (type === 'bad_gateway') {
      for (const r of [o, a]) {
        t.match(r.headers.get('content-type'), /^text\/html/);
        t.match(r.text, /<title>502 Bad Gateway<\/title>/);
      }
      continue;
    }
    t.same([o.json.error.type, o.json.error.code], [want.openai[1], want.openai[2]], `${type}: OpenAI type and code`);
    t.ok(o.json.error.message.length > 10, `${type}: OpenAI words it`);
    t.equal(a.json.type, 'error');
    t.equal(a.json.error.type, want.anthropic[1], `${type}: Anthropic error.type`);
    t.equal(a.json.request_id, a.headers.get('request-id'));
    const retry = 'retryAfter' in FAULTS[type] ? String(FAULTS[type].retryAfter) : null;
    t.equal(o.headers.get('retry-after'), retry, `${type}: retry-after as the vendor sends it`);
  }
});

t.test('fault parameters: the TPM wording, retry-after and retry-after-ms', async (t) => {
  const r = await post(`${srv.url}${CHAT}`, chat, fault('rate_limit;limit=tokens;retry-after=7;retry-after-ms=6500'));
  t.equal(r.json.error.type, 'tokens');
  t.match(r.json.error.message, /tokens per min \(TPM\).*try again in 7s/);
  t.equal(r.headers.get('retry-after'), '7');
  t.equal(r.headers.get('retry-after-ms'), '6500');
});

t.test('a bad x-sim-fault header is a 400 naming it, in each dialect', async (t) => {
  for (const [spec, why] of [['nope', /Invalid option/], ['delay', /delay needs ms/], ['stall;ms=soon', /ms/], ['cut;after', /not key=value/], ['cut;at=2', /at/]] as const) {
    const o = await post(`${srv.url}${CHAT}`, chat, fault(spec));
    t.equal(o.status, 400, spec);
    t.equal(o.json.error.param, 'x-sim-fault');
    t.match(o.json.error.message, why);
    const a = await post(`${srv.url}${MESSAGES}`, message, fault(spec, ANTHROPIC_HEADERS));
    t.equal(a.status, 400);
    t.match(a.json.error.message, /x-sim-fault/);
  }
});

t.test('transport faults', async (t) => {
  const url = `${srv.url}${CHAT}`;
  await t.rejects(fetch(url, { method: 'POST', headers: fault('reset'), body: JSON.stringify(chat) }), 'reset: no response');
  const closed = performance.now();
  await t.rejects(fetch(url, { method: 'POST', headers: fault('close'), body: JSON.stringify(chat) }), 'close: no response');
  t.ok(performance.now() - closed >= 5, 'close: after the answer was due');
  const hung = performance.now();
  await t.rejects(fetch(url, { method: 'POST', headers: fault('hang;ms=150'), body: JSON.stringify(chat) }), 'hang: closed after ms');
  t.ok(performance.now() - hung >= 145, 'hang: held the connection for its ms');
  const hangForever = fetch(url, { method: 'POST', headers: fault('hang'), body: JSON.stringify(chat), signal: AbortSignal.timeout(100) });
  await t.rejects(hangForever, /abort|timeout/i, 'hang without ms: only the client ends it');
  t.ok(await until(() => srv.server.services.active === 0), 'the hung exchange ended with its client');
  const delayed = performance.now();
  const d = await post(url, chat, fault('delay;ms=120'));
  t.equal(d.status, 200);
  t.ok(performance.now() - delayed >= 120, 'delay: the answer comes ms later');
  const empty = await post(url, chat, fault('empty_body'));
  t.same([empty.status, empty.text], [200, '']);
  const half = await post(url, chat, fault('invalid_json'));
  t.equal(half.status, 200);
  t.throws(() => JSON.parse(half.text), 'invalid_json: the body does not parse');
  const html = await post(url, chat, fault('wrong_content_type'));
  t.match(html.headers.get('content-type'), /^text\/html/);
  t.equal(JSON.parse(html.text).object, 'chat.completion', 'the right body under the wrong type');
  const throttled = performance.now();
  const slow = await post(url, chat, fault('throttle;bytes-per-second=2000'));
  const seconds = (performance.now() - throttled) / 1000;
  t.equal(JSON.parse(slow.text).object, 'chat.completion');
  t.ok(seconds >= (slow.text.length / 2000) * 0.8, `throttle: ${slow.text.length} bytes took ${seconds.toFixed(2)} s at 2000 B/s`);
  await t.rejects(fetch(url, { method: 'POST', headers: fault('cut'), body: JSON.stringify(chat) }).then((r) => r.text()), 'cut (non-stream): the body breaks off');
});

async function streamText(path: string, body: object, headers: Record<string, string>): Promise<{ text: string; error: unknown }> {
  const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers, body: JSON.stringify({ ...body, stream: true }) });
  let text = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body!) text += decoder.decode(chunk, { stream: true });
    return { text, error: null };
  } catch (error) {
    return { text, error };
  }
}

const deltas = (text: string): number => (text.match(/"delta":\{"content":|"text_delta"/g) ?? []).length;

t.test('mid-stream faults at a token, in both dialects', async (t) => {
  for (const [path, body, headers, terminator] of [
    [CHAT, chat, OPENAI_HEADERS, 'data: [DONE]'],
    [MESSAGES, message, ANTHROPIC_HEADERS, 'event: message_stop'],
  ] as const) {
    const cut = await streamText(path, body, fault('cut;after=3', headers));
    t.ok(cut.error, `${path} cut: the stream breaks`);
    t.equal(deltas(cut.text), 3, 'three tokens came first');
    t.notOk(cut.text.includes(terminator));
    const errorEvent = await streamText(path, body, fault('error_event;after=2;error=overloaded', headers));
    t.equal(errorEvent.error, null);
    t.equal(deltas(errorEvent.text), 2);
    const last = sseEvents(errorEvent.text).at(-1)!;
    const payload = JSON.parse(last.data);
    if (path === CHAT) t.same([last.event, payload.error.type], [null, 'server_error'], 'OpenAI: a data line with an error');
    else t.same([last.event, payload.error.type], ['error', 'overloaded_error'], 'Anthropic: event: error');
    const noEnd = await streamText(path, body, fault('no_terminator', headers));
    t.equal(noEnd.error, null, 'no_terminator: a clean end');
    t.equal(deltas(noEnd.text), 8);
    t.notOk(noEnd.text.includes(terminator), 'without the terminator');
    const malformed = await streamText(path, body, fault('malformed_chunk;after=4', headers));
    const events = sseEvents(malformed.text);
    const broken = events.filter((e) => e.data !== '[DONE]' && (() => { try { JSON.parse(e.data); return false; } catch { return true; } })());
    t.equal(broken.length, 1, 'malformed_chunk: exactly one event does not parse');
    t.equal(deltas(malformed.text.replace(broken[0]!.data, '')), 8, 'and every token still arrives');
    t.ok(malformed.text.includes(terminator));
    const stalled = performance.now();
    const stall = await streamText(path, body, fault('stall;after=1;ms=150', headers));
    t.ok(performance.now() - stalled >= 150, 'stall: the stream paused');
    t.equal(deltas(stall.text), 8, 'then went on to the end');
    const wrong = await fetch(`${srv.url}${path}`, { method: 'POST', headers: fault('wrong_content_type', headers), body: JSON.stringify({ ...body, stream: true }) });
    t.match(wrong.headers.get('content-type'), /^text\/html/);
    t.ok((await wrong.text()).includes(terminator));
  }
});

t.test('slow multiplies the gaps from its token on', async (t) => {
  const headers = { ...OPENAI_HEADERS, 'x-sim-ttft-ms': '0', 'x-sim-itl-ms': '10' };
  const timed = async (extra: Record<string, string>) => {
    const start = performance.now();
    await streamText(CHAT, chat, { ...headers, ...extra });
    return performance.now() - start;
  };
  const base = await timed({});
  const slowed = await timed({ 'x-sim-fault': 'slow;after=4;factor=5' });
  // 8 tokens, 7 gaps of 10 ms; the gaps after the fifth token (three of them) take 50 ms: 190 ms
  // of schedule instead of 70. Deadlines are absolute, so lateness only adds to either.
  t.ok(slowed >= 190 - 2 && slowed - base >= 100, `slow: ${base.toFixed(0)} ms → ${slowed.toFixed(0)} ms (schedules 70 → 190)`);
});

t.test('every injected fault is counted and journaled', async (t) => {
  const s = await startServer();
  t.teardown(() => s.close());
  const r = await post(`${s.url}${CHAT}`, chat, { ...fault('server_error'), 'x-request-id': 'journal-me' });
  t.equal(r.status, 500);
  const journal = s.server.services.admission.journal.read();
  t.equal(journal.length, 1);
  t.match(journal.at(-1), { requestId: 'journal-me', source: 'header', fault: 'server_error', route: 'chat.completions', model: 'gpt-4o-mini' });
  const metrics = await s.server.services.metrics.text();
  t.match(metrics, /llm_faults_injected_total\{fault="server_error",rule="header",model="gpt-4o-mini",route="chat.completions"\} 1/);
  t.match(metrics, /llm_errors_injected_total\{error_type="server_error"\} 1/);
});

t.test('rules: matchers, triggers, and the first rule that fires wins', async (t) => {
  const s = await startServer({
    seed: 3,
    faults: [
      { name: 'tenant-a', match: { header: { 'X-Tenant': 'a' } }, fault: { type: 'permission_denied' } },
      { name: 'first-two', match: { route: 'chat.completions', model: 'gpt-4o*', stream: false }, when: { first: 2 }, fault: { type: 'rate_limit' } },
      { name: 'every-3', match: { dialect: 'anthropic' }, when: { every: 3 }, fault: { type: 'overloaded' } },
      { name: 'pattern', match: { route: 'completions' }, when: { pattern: '.x' }, fault: { type: 'server_error' } },
      { name: 'after-1', match: { route: 'embeddings' }, when: { after: 1 }, fault: { type: 'service_unavailable' } },
      { name: 'coin', match: { route: 'responses' }, when: { probability: 0.3 }, fault: { type: 'gateway_timeout' } },
    ],
  });
  t.teardown(() => s.close());
  const status = async (path: string, body: object, headers: Record<string, string> = OPENAI_HEADERS) => (await post(`${s.url}${path}`, body, headers)).status;
  t.equal(await status(CHAT, chat, { ...OPENAI_HEADERS, 'x-tenant': 'a' }), 403, 'header matcher, and the first rule wins over first-two');
  const chats = [];
  for (let i = 0; i < 4; i++) chats.push(await status(CHAT, chat));
  t.same(chats, [429, 429, 200, 200], 'first: 2');
  t.equal(await status(CHAT, { ...chat, model: 'gpt-4.1-mini' }), 200, 'model glob');
  const msgs = [];
  for (let i = 0; i < 6; i++) msgs.push(await status(MESSAGES, message, ANTHROPIC_HEADERS));
  t.same(msgs, [200, 200, 529, 200, 200, 529], 'every: 3');
  const legacy = [];
  for (let i = 0; i < 4; i++) legacy.push(await status('/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi', max_tokens: 2 }));
  t.same(legacy, [200, 500, 200, 500], 'pattern .x repeats');
  const embeds = [];
  for (let i = 0; i < 3; i++) embeds.push(await status('/v1/embeddings', { model: 'text-embedding-3-small', input: 'hi' }));
  t.same(embeds, [200, 503, 503], 'after: 1');
  let faulted = 0;
  const n = 400;
  for (let i = 0; i < n; i++) if ((await status('/v1/responses', { model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 16 })) === 504) faulted++;
  // Binomial(400, 0.3): mean 120, sd 9.2; ±5 sd.
  t.ok(Math.abs(faulted - 120) < 46, `probability 0.3: ${faulted} of ${n}`);
});

t.test('seeded probability draws repeat run to run', async (t) => {
  const run = async () => {
    const s = await startServer({ seed: 11, faults: [{ when: { probability: 0.5 }, fault: { type: 'server_error' } }] });
    const out = [];
    for (let i = 0; i < 24; i++) out.push((await post(`${s.url}${CHAT}`, chat)).status);
    await s.close();
    return out;
  };
  const [a, b] = [await run(), await run()];
  t.same(a, b);
  t.ok(a.includes(500) && a.includes(200), 'both outcomes occur');
});

t.test('window and periodic triggers run from activation', async (t) => {
  // The rules' clock starts when the server is made, so the test's clock starts before that: the
  // window can then not seem to open early on a loaded machine (a slow start-up ate into it).
  const started = performance.now();
  const s = await startServer({ faults: [{ match: { route: 'chat.completions' }, when: { window: { from: '300ms', until: '2s' } }, fault: { type: 'server_error' } }] });
  t.teardown(() => s.close());
  const early = await post(`${s.url}${CHAT}`, chat);
  if (performance.now() - started < 280) t.equal(early.status, 200, 'before the window');
  t.ok(await until(async () => (await post(`${s.url}${CHAT}`, chat)).status === 500, 3000), 'inside the window');
  t.ok(performance.now() - started >= 280, 'not before from');
  const p = await startServer({ faults: [{ when: { periodic: { every: '400ms', for: '200ms' } }, fault: { type: 'overloaded' } }] });
  t.teardown(() => p.close());
  const seen = new Set<number>();
  const deadline = performance.now() + 1500;
  while (performance.now() < deadline && seen.size < 2) seen.add((await post(`${p.url}${CHAT}`, chat)).status);
  t.same([...seen].sort(), [200, 503], 'periodic: on and off');
});

t.test('control.headers false ignores x-sim-fault (and every x-sim-* header)', async (t) => {
  const s = await startServer({ control: { headers: false } });
  t.teardown(() => s.close());
  const r = await post(`${s.url}${CHAT}`, chat, fault('server_error'));
  t.equal(r.status, 200);
  t.equal(r.headers.get('x-sim-fault-injected'), null);
});

t.test('faults.announce false hides the header, and a fault on a raw socket never crashes anything', async (t) => {
  const s = await startServer({ faults: { announce: false, rules: [{ match: { route: 'messages' }, fault: { type: 'cut', after: 1 } }] } });
  t.teardown(() => s.close());
  const r = await post(`${s.url}${CHAT}`, chat, fault('rate_limit'));
  t.equal(r.status, 429);
  t.equal(r.headers.get('x-sim-fault-injected'), null);
  // A client that leaves while its faulted stream is cut: the server goes on serving.
  const socket = connect(s.port, '127.0.0.1');
  const body = JSON.stringify({ ...message, stream: true });
  socket.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nanthropic-version: 2023-06-01\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve));
  t.equal((await post(`${s.url}${CHAT}`, chat)).status, 200);
});

t.test('probability 0.1 over 10,000 requests stays within binomial bounds', async (t) => {
  const s = await startServer({ faults: [{ name: 'tenth', match: { route: 'embeddings' }, when: { probability: 0.1 }, fault: { type: 'overloaded' } }] });
  t.teardown(() => s.close());
  const total = 10_000;
  let sent = 0;
  let faulted = 0;
  const body = JSON.stringify({ model: 'text-embedding-3-small', input: 'x', dimensions: 8 });
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (sent < total) {
        sent++;
        const res = await fetch(`${s.url}/v1/embeddings`, { method: 'POST', headers: OPENAI_HEADERS, body });
        await res.arrayBuffer();
        if (res.status === 503) faulted++;
      }
    }),
  );
  // Binomial(10,000, 0.1): mean 1,000, sd 30. ±5 sd (850–1,150) fails a correct engine about once in 1.7 million runs.
  t.ok(faulted >= 850 && faulted <= 1150, `${faulted} of ${total} faulted (bound 850–1,150)`);
});
