import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root (the directory of its package.json), found from this module whether it runs
 * compiled (dist/src) or from its TypeScript sources under a test runner: what the build writes
 * (the thread pool's task files, the tokenizers' ranks) is looked for under its `dist`.
 */
export const PACKAGE_ROOT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

/** A file the build wrote, by its path under dist/. */
export const built = (...path: string[]): string => join(PACKAGE_ROOT, 'dist', ...path);
