import { Rng } from '../../sim/rng.js';
import { TOKEN_TEXT, type TokenText } from '../../sim/text.js';

/**
 * Log probabilities for the tokens of a completion (chat `logprobs` / `top_logprobs`): each
 * token's own logprob is drawn in (−3, 0], likelier near 0, from a generator seeded by the text
 * seed and the position, so they are as deterministic as the text; the alternatives are other
 * vocabulary words, each less likely than the one before.
 */
export function logprobEntry(text: TokenText, i: number, seed: number, top: number): string {
  const rng = new Rng(seed ^ Math.imul(i + 1, 0x9e3779b1));
  const piece = text.piece(i);
  const own = -3 * rng.next() ** 3;
  let alternatives = '';
  let lp = own;
  for (let k = 0; k < top; k++) {
    const token = k === 0 ? piece : TOKEN_TEXT[Math.floor(rng.next() * TOKEN_TEXT.length)]!;
    if (k > 0) lp -= 0.5 + 2 * rng.next();
    alternatives += `${k === 0 ? '' : ','}${candidate(token, k === 0 ? own : lp)}`;
  }
  return `{"token":${JSON.stringify(piece)},"logprob":${round(own)},"bytes":${bytes(piece)},"top_logprobs":[${alternatives}]}`;
}

const round = (x: number): string => String(Math.round(x * 1e6) / 1e6);
const bytes = (s: string): string => `[${Array.from(Buffer.from(s, 'utf8')).join(',')}]`;
const candidate = (token: string, lp: number): string => `{"token":${JSON.stringify(token)},"logprob":${round(lp)},"bytes":${bytes(token)}}`;

/** The `logprobs` object of a whole non-stream choice. */
export function logprobsJson(text: TokenText, seed: number, top: number): string {
  let content = '';
  for (let i = 0; i < text.length; i++) content += (i === 0 ? '' : ',') + logprobEntry(text, i, seed, top);
  return `{"content":[${content}],"refusal":null}`;
}
