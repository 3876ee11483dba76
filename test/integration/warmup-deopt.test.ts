import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MAIN } from '../helpers/cluster.js';

// The start-up warm-up exists so that the first client meets optimised code. A function of the
// request's path that deoptimises on a changed hidden class ("wrong map") during the warm-up is
// left unoptimised when the process starts listening, and under a light load it waits seconds
// for V8 to optimise it again (README "Benchmarking": arrays whose shape changed with the tier
// of the code that made them; models of two shapes). V8's own trace says whether it happened.

/**
 * The `--trace-deopt-verbose` output of a one-process start, up to its listening line, and then
 * up to the answers of `requests` (each sent after the last was answered).
 */
async function startUpTrace(args: string[], requests: readonly object[] = []): Promise<{ start: string; load: string }> {
  const proc = spawn(process.execPath, ['--trace-deopt-verbose', MAIN, '--workers', '0', '--host', '127.0.0.1', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no listening line within 60 s')), 60_000);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const listening = /"port":(\d+)[^\n]*"msg":"llm-simulator listening"/.exec(out);
        if (listening) {
          clearTimeout(timer);
          resolve(Number(listening[1]));
        }
      });
      proc.on('exit', (code) => reject(new Error(`exited ${code} before listening`)));
    });
    const listened = out.length;
    for (const body of requests) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sim-ttft-ms': '1', 'x-sim-itl-ms': '1' }, body: JSON.stringify(body) });
      if (res.status !== 200) throw new Error(`answered ${res.status}: ${await res.text()}`);
      await res.text();
    }
    return { start: out.slice(0, listened), load: out.slice(listened) };
  } finally {
    proc.kill('SIGKILL');
  }
}

/**
 * Where each deoptimisation for a value of another kind than the compiled code expected happened
 * in the simulator's own code (`dist/src/…:line:column`; node's internals are not ours to fix):
 * another hidden class (`wrong map`), a string that is not internalized as the literals it is
 * compared with (`wrong instance type`), null in a field that only held small integers (`not a
 * Smi`), another property name at a keyed load (`wrong name`). The line after each such bailout
 * names the place. Deoptimisations for code that never ran ("insufficient type feedback") are not
 * counted: a path the warm-up cannot take meets one legitimately (the wheel's, for a turn out of
 * time, it no longer does: test/unit/scheduler.test.ts).
 */
function ownDeopts(trace: string): string[] {
  const lines = trace.split('\n');
  const places: string[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('[bailout') || !/reason: (wrong map|wrong instance type|not a Smi|not a heap number|wrong name)\)/.test(line)) return;
    const at = /deoptimize at <[^>]*\/dist\/(src\/[^>]*)>/.exec(lines[i + 1] ?? '');
    if (at) places.push(`${line.replace(/.*reason: ([^)]*)\).*<JSFunction (\S*).*/, '$2 ($1)')} at ${at[1]}`);
  });
  return places;
}

t.test('the warm-up leaves no function deoptimised on a changed hidden class', async (t) => {
  const { start } = await startUpTrace([]);
  t.match(start, /\[bailout/, 'the trace is on (node itself deoptimises something while starting)');
  t.same(ownDeopts(start), [], 'none in the simulator\'s own code for a value of another kind');
});

t.test("a model and profile from the configuration meet code the warm-up compiled for them", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmsim-deopt-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      'profiles:',
      '  steady: { prefillOverheadMs: 50, itlMs: 10 }',
      'models:',
      '  - { id: steady-model, provider: openai, kind: chat, contextWindow: 100000, maxOutputTokens: 1000, profile: steady }',
    ].join('\n'),
  );
  // The bodies of the warm-up's own timed chat streams, for the configured model: only the model and profile are new.
  const body = { model: 'steady-model', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello, please.' }], max_tokens: 8, stream: true, stream_options: { include_usage: true } };
  // And a load tool's body: other fields (no system message, no stream options). It keeps a max_tokens: an answer that
  // ends by itself is still the first `stop` for `ended` (README "Benchmarking").
  const plain = { model: 'steady-model', messages: [{ role: 'user', content: 'benchmark' }], max_tokens: 8, stream: true };
  const { start, load } = await startUpTrace(['--config', config], [...Array.from({ length: 5 }, () => body), ...Array.from({ length: 5 }, () => plain)]);
  t.same(ownDeopts(start), [], 'none while starting');
  t.same(ownDeopts(load), [], 'none under the first requests for the configured model, in either shape of body');
});
