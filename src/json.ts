import { Buffer } from 'node:buffer';
/**
 * A string as a JSON string literal, for text that answers and log lines echo per request (model
 * names, paths, request ids): plain text (printable ASCII other than `"` and `\`) is quoted as it
 * is, anything else is escaped by JSON.stringify. The test is a loop, not a pattern: entering
 * the regular expression engine cost ~400 instructions a call, more than these short strings'
 * characters.
 */
export function jsonString(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/**
 * A string as a JSON string literal in ASCII alone: `jsonString`, with every character past
 * U+007E escaped as `\uXXXX` (a JSON reader gets the same text back). Access lines quote what
 * clients send with it, so a line is its own bytes: written as Latin-1, with no UTF-8 encoding
 * pass (~10 instructions a character).
 */
export function asciiJsonString(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return asciiJson(JSON.stringify(text));
  }
  return `"${text}"`;
}

/** JSON text with every character past U+007E escaped (`\uXXXX`, a surrogate pair as two). */
export const asciiJson = (json: string): string => json.replace(/[\u007f-\uffff]/g, escapeUnit);

const escapeUnit = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Latin-1 text (ASCII included) as one flat copy, for text kept and reused: V8 keeps `a + b` as a
 * tree of its parts, and every answer that embeds a kept tree walks it again when uWS flattens
 * the answer to send it.
 */
export const flatLatin1 = (text: string): string => Buffer.from(text, 'latin1').toString('latin1');

/** Any text as one flat copy (`flatLatin1` for text that may hold any character). */
export const flatUtf8 = (text: string): string => Buffer.from(text, 'utf8').toString('utf8');
