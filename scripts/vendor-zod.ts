import { build, type Plugin } from 'esbuild';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { built, PACKAGE_ROOT } from '../src/paths.js';

/**
 * Build step (`npm run build`): zod as one file, `dist/vendor/zod.js`, which the code imports as
 * `#zod` (package.json `imports`). zod 4 is ~100 ES modules, 65 of them the error messages' locales;
 * the loader resolves, reads, compiles and links each one, and every process (the primary before it
 * forks, each worker) paid ~95 ms for it. One file holding English alone loads in ~38 ms.
 * The configuration's and the requests' errors are English, so `z.locales` holds `en` only.
 */
const onlyEnglish: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) => ({ path: `${args.resolveDir}/${args.path}`, namespace: 'zod-locales' }));
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({ contents: 'export { default as en } from "./en.js";', resolveDir: dirname(args.path), loader: 'js' }));
  },
};

await build({
  entryPoints: [createRequire(`${PACKAGE_ROOT}/package.json`).resolve('zod').replace(/\.cjs$/, '.js')],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile: built('vendor', 'zod.js'),
  plugins: [onlyEnglish],
  logLevel: 'warning',
});
