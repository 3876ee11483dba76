import { spawn } from 'node:child_process';
import t from 'tap';
import { MAIN } from '../helpers/cluster.js';

// The start-up warm-up exists so that the first client meets optimised code. A function of the
// request's path that deoptimises on a changed hidden class ("wrong map") during the warm-up is
// left unoptimised when the process starts listening, and under a light load it waits seconds
// for V8 to optimise it again (README "Benchmarking": arrays whose shape changed with the tier
// of the code that made them; models of two shapes). V8's own trace says whether it happened.

/** The `--trace-deopt-verbose` output of a one-process start, up to its listening line. */
async function startUpTrace(args: string[]): Promise<string> {
  const proc = spawn(process.execPath, ['--trace-deopt-verbose', MAIN, '--workers', '0', '--host', '127.0.0.1', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no listening line within 60 s')), 60_000);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('llm-simulator listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.on('exit', (code) => reject(new Error(`exited ${code} before listening`)));
    });
  } finally {
    proc.kill('SIGKILL');
  }
  return out.slice(0, out.indexOf('llm-simulator listening'));
}

/**
 * Where each deoptimisation for a changed hidden class happened in the simulator's own code
 * (`dist/src/…:line:column`; node's internals are not ours to fix): the line after each such
 * bailout names the place.
 */
function ownWrongMaps(trace: string): string[] {
  const lines = trace.split('\n');
  const places: string[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('[bailout') || !line.includes('reason: wrong map')) return;
    const at = /deoptimize at <[^>]*\/dist\/(src\/[^>]*)>/.exec(lines[i + 1] ?? '');
    if (at) places.push(`${line.replace(/.*<JSFunction (\S*).*/, '$1')} at ${at[1]}`);
  });
  return places;
}

t.test('the warm-up leaves no function deoptimised on a changed hidden class', async (t) => {
  const trace = await startUpTrace([]);
  t.match(trace, /\[bailout/, 'the trace is on (node itself deoptimises something while starting)');
  t.same(ownWrongMaps(trace), [], 'none in the simulator\'s own code for a wrong map');
});
