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
