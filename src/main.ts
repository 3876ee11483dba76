#!/usr/bin/env node
import cluster from 'node:cluster';
import { ConfigError, loadConfig } from './config/load.js';
import { Primary } from './cluster/primary.js';
import { answerCli } from './cli.js';

async function main(): Promise<void> {
  // The HTTP side (uWS, routes, tokenizers) loads only where it serves: not in the primary.
  if (cluster.isWorker) return (await import('./cluster/http-worker.js')).runHttpWorker();
  // `llm-simulator bench …` is the benchmark harness (bench/run.ts), shipped in the package.
  if (process.argv[2] === 'bench') {
    process.argv.splice(2, 1);
    await import('../bench/run.js');
    return;
  }
  let config;
  try {
    if (answerCli(process.argv.slice(2), process.env)) return;
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.workers === 0) return (await import('./cluster/http-worker.js')).runSingleProcess(config);
  return new Primary(config).start();
}

main().catch((err: Error) => {
  // A problem the user can fix (config, a busy port) is one line and exit 2; anything else is a bug.
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`llm-simulator: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
