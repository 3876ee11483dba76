import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { validateConfig } from '../../src/config/load.js';
import { startServer } from '../helpers/server.js';

// The README's examples as a newcomer would paste them: every YAML block is a valid config (a
// rules file's list as `faults`), and every `curl` line of the block under "Admin API", with $KEY
// set in the shell, succeeds (2xx) against a real server.

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Admin API'));
const block = section.slice(section.indexOf('```sh') + 5, section.indexOf('```', section.indexOf('```sh') + 5));
const curls = block.split('\n').filter((line) => line.startsWith('curl '));

/** A shell line's words: single quotes keep everything literal, double quotes expand `$NAME`, as sh does. */
function words(line: string, env: Record<string, string>): string[] {
  const out: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ') {
      if (word !== null) out.push(word);
      word = null;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1);
      word = (word ?? '') + line.slice(i + 1, end).replace(/\$(\w+)/g, (_, name: string) => env[name] ?? '');
      i = end;
    } else if (c === '$') {
      const name = /^\w+/.exec(line.slice(i + 1))![0];
      word = (word ?? '') + (env[name] ?? '');
      i += name.length;
    } else word = (word ?? '') + c;
  }
  if (word !== null) out.push(word);
  return out;
}

/** What curl would send for `curl -s [-X METHOD] URL [-H 'name: value']… [-d DATA]` (curl posts with -d, as form data unless a content-type is given). */
function request(args: string[]): { method: string; path: string; headers: Record<string, string>; body?: string } {
  let method: string | null = null;
  let path = '';
  let body: string | undefined;
  const headers: Record<string, string> = {};
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-s') continue;
    if (a === '-X') method = args[++i]!;
    else if (a === '-H') {
      const [name, ...value] = args[++i]!.split(':');
      headers[name!.trim().toLowerCase()] = value.join(':').trim();
    } else if (a === '-d') body = args[++i]!;
    else path = a.replace(/^(https?:\/\/)?localhost:8080/, '');
  }
  if (body !== undefined) headers['content-type'] ??= 'application/x-www-form-urlencoded';
  return { method: method ?? (body !== undefined ? 'POST' : 'GET'), path, headers, ...(body !== undefined ? { body } : {}) };
}

t.test("the README's admin examples work as written", async (t) => {
  t.ok(curls.length >= 5, `${curls.length} curl lines found under "Admin API"`);
  const KEY = 'readme-admin-key-1234';
  const s = await startServer({ admin: { key: KEY } });
  t.teardown(() => s.close());
  for (const line of curls) {
    const { method, path, headers, body } = request(words(line, { KEY }));
    const r = await fetch(`${s.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await r.text();
    t.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${r.status >= 300 ? text : ''}`);
  }
});

t.test("the README's YAML examples are valid configs", async (t) => {
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  t.ok(blocks.length >= 5, `${blocks.length} YAML blocks`);
  for (const [i, text] of blocks.entries()) {
    // An elided digest (`3f1c…e9`) stands for any 64 hex digits.
    const doc: unknown = parse(text.replace(/\b[0-9a-f]+…[0-9a-f]+\b/g, 'a'.repeat(64)));
    t.doesNotThrow(() => validateConfig(Array.isArray(doc) ? { faults: doc } : doc), `block ${i + 1}: ${text.split('\n')[0]}`);
  }
});
