import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startServer } from '../helpers/server.js';

// CORS in a real browser: a page served from another origin on 127.0.0.1, in headless Chromium
// (Debian `chromium`, driven by playwright-core), streams a chat completion with fetch and with
// the official `openai` client, and reads the headers CORS exposes.

const CHROMIUM = '/usr/bin/chromium';
const OPENAI_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../node_modules/openai');

const PAGE = `<!doctype html><html><body><pre id="out"></pre><script type="module">
import OpenAI from '/openai/index.mjs';
const messages = [{ role: 'user', content: 'Say something in the browser.' }];
const out = document.getElementById('out');
window.viaFetch = async (base) => {
  const r = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-browser', 'x-stainless-os': 'browser' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages, stream: true }) });
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let sse = '';
  for (;;) { const { done, value } = await reader.read(); if (done) break; sse += decoder.decode(value, { stream: true }); }
  return { status: r.status, requestId: r.headers.get('x-request-id'), limit: r.headers.get('x-ratelimit-limit-requests'), remaining: r.headers.get('x-ratelimit-remaining-requests'), sse };
};
window.viaSdk = async (base) => {
  const client = new OpenAI({ apiKey: 'sk-browser', baseURL: base + '/v1', dangerouslyAllowBrowser: true, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  const tokens = [];
  for await (const chunk of stream) { const token = chunk.choices[0]?.delta?.content; if (token) { tokens.push(token); out.textContent += token; } }
  return { tokens, shown: out.textContent };
};
window.blocked = async (base) => fetch(base + '/v1/models', { headers: { authorization: 'Bearer sk-browser' } }).then(() => 'allowed', (err) => err.name);
window.ready = true;
</script></body></html>`;

/** The page's own origin: the HTML above, and the `openai` package's ES modules from node_modules. */
function pageServer(): Promise<{ server: HttpServer; origin: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    const file = normalize(join(OPENAI_DIR, path.replace(/^\/openai\//, '')));
    if (!path.startsWith('/openai/') || !file.startsWith(OPENAI_DIR) || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

t.test('a page on another origin streams from the simulator in Chromium', { skip: existsSync(CHROMIUM) ? false : `no browser: ${CHROMIUM} is missing (Debian package chromium; .ci/run installs it)` }, async (t) => {
  const { chromium } = await import('playwright-core');
  const page = await pageServer();
  t.teardown(() => void page.server.close());
  // The listed origin is the page's; a second simulator lists only another one.
  const sim = await startServer({ cors: { origins: [page.origin] }, response: { minTokens: 12, maxTokens: 12 }, limits: { default: { requestsPerMinute: 1000 } } });
  t.teardown(() => sim.close());
  const elsewhere = await startServer({ cors: { origins: ['http://elsewhere.example'] } });
  t.teardown(() => elsewhere.close());

  // As node.md says this machine needs: no sandbox as root, no background networking.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  t.teardown(() => browser.close());
  const tab = await browser.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (err) => errors.push(err.message));
  await tab.goto(page.origin);
  await tab.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, undefined, { timeout: 20_000 });

  const fetched = (await tab.evaluate((base) => (window as any).viaFetch(base), sim.url)) as { status: number; requestId: string; limit: string; remaining: string; sse: string };
  t.equal(fetched.status, 200);
  t.match(fetched.requestId, /^req_/, 'the request id is readable (exposed)');
  t.equal(fetched.limit, '1000', 'so are the rate-limit headers');
  t.ok(Number(fetched.remaining) < 1000);
  const contents = fetched.sse.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content).filter((c) => typeof c === 'string' && c !== '');
  t.equal(contents.length, 12, 'fetch read every token of the stream');
  t.ok(fetched.sse.endsWith('data: [DONE]\n\n'), 'to its terminator');

  const viaSdk = (await tab.evaluate((base) => (window as any).viaSdk(base), sim.url)) as { tokens: string[]; shown: string };
  t.equal(viaSdk.tokens.length, 12, 'the openai client streamed every token');
  t.equal(viaSdk.shown, viaSdk.tokens.join(''), 'and the page shows them');

  t.equal(await tab.evaluate((base) => (window as any).blocked(base), elsewhere.url), 'TypeError', 'an origin not listed is refused by the browser');
  t.same(errors, [], 'no page errors');
});
