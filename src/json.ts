/** Printable ASCII other than `"` and `\`: such text is its own JSON string literal once quoted. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * A string as a JSON string literal, for text that answers and log lines echo per request (model
 * names, paths, request ids): plain text is quoted without JSON.stringify, which costs about
 * twice the pattern test; anything else is escaped by it.
 */
export const jsonString = (text: string): string => (PLAIN.test(text) ? `"${text}"` : JSON.stringify(text));
