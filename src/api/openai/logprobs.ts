import { Rng } from '../../sim/rng.js';
import { TOKEN_TEXT, type TokenText } from '../../sim/text.js';

interface Draw {
  readonly token: string;
  readonly logprob: number;
  /** The `top` likeliest tokens at this position, the token itself first. */
  readonly top: readonly (readonly [string, number])[];
}

/**
 * Log probabilities for the tokens of a completion: each token's own logprob is drawn in (−3, 0],
 * likelier near 0, from a generator seeded by the text seed and the position, so they are as
 * deterministic as the text; the alternatives are other vocabulary words, each less likely than
 * the one before.
 */
function draw(text: TokenText, i: number, seed: number, top: number): Draw {
  const rng = new Rng(seed ^ Math.imul(i + 1, 0x9e3779b1));
  const token = text.piece(i);
  const logprob = round(-3 * rng.next() ** 3);
  const alternatives: [string, number][] = [];
  let lp = logprob;
  for (let k = 0; k < top; k++) {
    if (k > 0) lp = round(lp - 0.5 - 2 * rng.next());
    let alternative = token;
    // Distinct alternatives: the legacy format keys them by token.
    while (k > 0 && alternatives.some(([t]) => t === alternative)) alternative = TOKEN_TEXT[Math.floor(rng.next() * TOKEN_TEXT.length)]!;
    alternatives.push([alternative, lp]);
  }
  return { token, logprob, top: alternatives };
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;
const bytes = (s: string): string => `[${Array.from(Buffer.from(s, 'utf8')).join(',')}]`;
const candidate = (token: string, lp: number): string => `{"token":${JSON.stringify(token)},"logprob":${lp},"bytes":${bytes(token)}}`;

/** Chat: one `logprobs.content` entry (WIRE A2). */
export function logprobEntry(text: TokenText, i: number, seed: number, top: number): string {
  const d = draw(text, i, seed, top);
  return `{"token":${JSON.stringify(d.token)},"logprob":${d.logprob},"bytes":${bytes(d.token)},"top_logprobs":[${d.top.map(([t, lp]) => candidate(t, lp)).join(',')}]}`;
}

/** Chat: the `logprobs` object of a whole non-stream choice. */
export function logprobsJson(text: TokenText, seed: number, top: number): string {
  let content = '';
  for (let i = 0; i < text.length; i++) content += (i === 0 ? '' : ',') + logprobEntry(text, i, seed, top);
  return `{"content":[${content}],"refusal":null}`;
}

/**
 * Legacy completions (WIRE A4): `{tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}`
 * for tokens [from, to), their offsets counted from `offset` (where the completion starts in the choice's text).
 */
export function legacyLogprobsJson(text: TokenText, seed: number, top: number, from = 0, to = text.length, offset = 0): string {
  const tokens: string[] = [];
  const lps: number[] = [];
  const tops: string[] = [];
  const offsets: number[] = [];
  let at = offset + text.plain(from).length;
  for (let i = from; i < to; i++) {
    const d = draw(text, i, seed, top);
    tokens.push(JSON.stringify(d.token));
    lps.push(d.logprob);
    tops.push(`{${d.top.map(([t, lp]) => `${JSON.stringify(t)}:${lp}`).join(',')}}`);
    offsets.push(at);
    at += d.token.length;
  }
  return `{"tokens":[${tokens.join(',')}],"token_logprobs":[${lps.join(',')}],"top_logprobs":[${tops.join(',')}],"text_offset":[${offsets.join(',')}]}`;
}
