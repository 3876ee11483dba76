#!/usr/bin/env node
import cluster from 'node:cluster';
import { ConfigError, loadConfig } from './config/load.js';
import { runHttpWorker } from './cluster/http-worker.js';
import { Primary, runSingleProcess } from './cluster/primary.js';

async function main(): Promise<void> {
  if (cluster.isWorker) return runHttpWorker();
  let config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.workers === 0) return runSingleProcess(config);
  return new Primary(config).start();
}

main().catch((err: Error) => {
  process.stderr.write(`llm-simulator: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
