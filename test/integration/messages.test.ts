import t from 'tap';
import { ANTHROPIC_HEADERS, post, splitTokens, startServer } from '../helpers/server.js';

const srv = await startServer();
t.teardown(() => srv.close());
const url = `${srv.url}/v1/messages`;
const body = { model: 'claude-sonnet-4-5', max_tokens: 6, system: 'Be brief.', messages: [{ role: 'user', content: 'Tell me about rivers.' }] };

t.test('non-stream message has the documented shape', async (t) => {
  const res = await post(url, body, ANTHROPIC_HEADERS);
  t.equal(res.status, 200);
  t.match(res.headers.get('request-id'), /^req_011C[0-9A-Za-z]{24}$/);
  const m = res.json;
  t.match(m.id, /^msg_01/);
  t.equal(m.type, 'message');
  t.equal(m.role, 'assistant');
  t.equal(m.model, 'claude-sonnet-4-5');
  t.equal(m.stop_reason, 'max_tokens');
  t.equal(m.stop_sequence, null);
  t.equal(m.content.length, 1);
  t.equal(m.content[0].type, 'text');
  t.equal(splitTokens(m.content[0].text).length, 6);
  t.equal(m.usage.output_tokens, 6);
  t.ok(m.usage.input_tokens > 0);
});

t.test('a request sent again gets the same message but for its id; each thing it is made of still shows', async (t) => {
  // The body after `"model":` is kept from the last answer (src/api/kept-body.ts).
  const rest = (text: string): string => text.slice(text.indexOf('"model":'));
  const first = await post(url, body, ANTHROPIC_HEADERS);
  const again = await post(url, body, ANTHROPIC_HEADERS);
  t.equal(rest(again.text), rest(first.text), 'the same bytes after the id');
  t.not(again.json.id, first.json.id, 'a new id each time');
  const dated = (await post(url, { ...body, model: 'claude-sonnet-4-5-20250929' }, ANTHROPIC_HEADERS)).json;
  t.equal(dated.model, 'claude-sonnet-4-5-20250929', 'the dated name of the same model answers with the name asked for');
  t.equal(dated.content[0].text, first.json.content[0].text, 'and the same text');
  t.equal((await post(url, body, ANTHROPIC_HEADERS)).json.model, 'claude-sonnet-4-5', 'the alias again after the dated name');
  const shorter = (await post(url, { ...body, max_tokens: 3 }, ANTHROPIC_HEADERS)).json;
  t.equal(shorter.usage.output_tokens, 3, 'another cap cuts its own answer');
  t.equal(splitTokens(shorter.content[0].text).length, 3);
  const longerPrompt = (await post(url, { ...body, system: 'Be brief, and kind.' }, ANTHROPIC_HEADERS)).json;
  t.ok(longerPrompt.usage.input_tokens > first.json.usage.input_tokens, 'another prompt counts its own tokens');
});

t.test('max_tokens 0 is allowed and yields an empty answer', async (t) => {
  const res = await post(url, { ...body, max_tokens: 0 }, ANTHROPIC_HEADERS);
  t.equal(res.status, 200);
  t.equal(res.json.content[0].text, '');
  t.equal(res.json.stop_reason, 'max_tokens');
});

t.test('an uncapped answer ends with end_turn', async (t) => {
  const res = await post(url, { ...body, max_tokens: 4096 }, ANTHROPIC_HEADERS);
  t.equal(res.json.stop_reason, 'end_turn');
});

t.test('stream bytes are exact (WIRE B3 order)', async (t) => {
  const full = (await post(url, body, ANTHROPIC_HEADERS)).json;
  const res = await post(url, { ...body, stream: true }, ANTHROPIC_HEADERS);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const usage = (out: number) => `{"input_tokens":${full.usage.input_tokens},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":${out},"server_tool_use":null,"service_tier":"standard","inference_geo":null}`;
  const ev = (name: string, data: string) => `event: ${name}\ndata: ${data}\n\n`;
  const expected =
    ev('message_start', `{"type":"message_start","message":{"id":"ID","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"stop_details":null,"container":null,"usage":${usage(1)}}}`) +
    ev('content_block_start', '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"","citations":null}}') +
    ev('ping', '{"type":"ping"}') +
    splitTokens(full.content[0].text)
      .map((tok) => ev('content_block_delta', `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(tok)}}}`))
      .join('') +
    ev('content_block_stop', '{"type":"content_block_stop","index":0}') +
    ev('message_delta', `{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null,"stop_details":null,"container":null},"usage":{"input_tokens":${full.usage.input_tokens},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":6,"server_tool_use":null}}`) +
    ev('message_stop', '{"type":"message_stop"}');
  t.equal(res.text.replace(/"id":"msg_[^"]+"/, '"id":"ID"'), expected);
  t.notMatch(res.text, /\[DONE\]/);
});

t.test('anthropic-version is required, any dated version accepted', async (t) => {
  const { 'anthropic-version': _, ...noVersion } = ANTHROPIC_HEADERS;
  const missing = await post(url, body, noVersion);
  t.equal(missing.status, 400);
  t.same(missing.json.error, { type: 'invalid_request_error', message: 'anthropic-version: header is required' });
  const newer = await post(url, body, { ...ANTHROPIC_HEADERS, 'anthropic-version': '2026-10-21' });
  t.equal(newer.status, 200);
});
