import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { EXPOSED_HEADERS } from '../../src/edge/cors.js';
import { post, startServer } from '../helpers/server.js';

// CORS on the wire (the browser itself: test/browser/cors.test.ts).

const preflight = (url: string, origin: string, requested?: string) =>
  fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', ...(requested ? { 'access-control-request-headers': requested } : {}) } });

t.test('origins *: preflight 204 on every path, before the key check; responses to an Origin carry allow-origin and the exposed headers', async (t) => {
  const s = await startServer({ auth: { mode: 'keys', keys: [{ key: 'sk-a' }] } });
  t.teardown(() => s.close());
  for (const path of ['/v1/chat/completions', '/v1/messages', '/no/such/path']) {
    const r = await preflight(`${s.url}${path}`, 'http://app.example', 'authorization, x-api-key, anthropic-version, anthropic-dangerous-direct-browser-access, x-stainless-retry-count, x-sim-fault');
    t.equal(r.status, 204, `OPTIONS ${path}: 204 without a key`);
    t.equal(r.headers.get('access-control-allow-origin'), '*');
    t.equal(r.headers.get('access-control-allow-methods'), 'GET, POST, DELETE, OPTIONS');
    t.equal(r.headers.get('access-control-allow-headers'), 'authorization, x-api-key, anthropic-version, anthropic-dangerous-direct-browser-access, x-stainless-retry-count, x-sim-fault', 'the requested headers allowed');
    t.equal(r.headers.get('access-control-max-age'), '600');
    t.equal(r.headers.get('content-length'), null, 'a 204 has no content-length');
  }
  t.match((await preflight(`${s.url}/v1/chat/completions`, 'http://app.example')).headers.get('access-control-allow-headers'), /^authorization, content-type, x-api-key/, 'the default list when none is requested');
  t.match((await preflight(`${s.url}/v1/chat/completions`, 'http://app.example', 'bad header; x=y')).headers.get('access-control-allow-headers'), /^authorization, content-type/, 'a malformed list is not echoed');

  const fromPage = await post(`${s.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { 'content-type': 'application/json', authorization: 'Bearer sk-a', origin: 'http://app.example' });
  t.equal(fromPage.status, 200);
  t.equal(fromPage.headers.get('access-control-allow-origin'), '*');
  t.equal(fromPage.headers.get('access-control-expose-headers'), EXPOSED_HEADERS.join(', '));
  const refused = await post(`${s.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [] }, { 'content-type': 'application/json', origin: 'http://app.example' });
  t.equal(refused.status, 401, 'errors too');
  t.equal(refused.headers.get('access-control-allow-origin'), '*');
  const server = await post(`${s.url}/v1/chat/completions`, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { 'content-type': 'application/json', authorization: 'Bearer sk-a' });
  t.equal(server.headers.get('access-control-allow-origin'), null, 'no Origin (not a browser): no CORS headers');
  t.equal(server.headers.get('access-control-expose-headers'), 'X-Request-ID', "but OpenAI's own expose header, as the vendor sends it");
});

t.test('a list of origins: the listed one echoed with vary, another gets none; [] turns CORS off', async (t) => {
  const s = await startServer({ cors: { origins: ['http://localhost:5173'], maxAgeSeconds: 60 } });
  t.teardown(() => s.close());
  const listed = await preflight(`${s.url}/v1/chat/completions`, 'http://localhost:5173', 'content-type');
  t.equal(listed.headers.get('access-control-allow-origin'), 'http://localhost:5173');
  t.equal(listed.headers.get('vary'), 'Origin');
  t.equal(listed.headers.get('access-control-max-age'), '60');
  const other = await preflight(`${s.url}/v1/chat/completions`, 'http://evil.example', 'content-type');
  t.equal(other.status, 204);
  t.equal(other.headers.get('access-control-allow-origin'), null, 'an origin not listed is not allowed');
  t.equal(other.headers.get('access-control-allow-methods'), null);

  const off = await startServer({ cors: { origins: [] } });
  t.teardown(() => off.close());
  t.equal((await preflight(`${off.url}/v1/chat/completions`, 'http://localhost:5173')).status, 405, 'CORS off: OPTIONS is not a method of the route');
});

t.test('bad CORS settings name the option', async (t) => {
  t.throws(() => validateConfig({ cors: { origins: 5 } }), /config: cors\.origins/);
  t.throws(() => validateConfig({ cors: { origins: ['localhost:5173'] } }), /config: cors\.origins\.0: an origin such as/);
  t.throws(() => validateConfig({ cors: { maxAgeSeconds: -1 } }), /config: cors\.maxAgeSeconds/);
});
