import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

type SonicBoom = DestinationStream & { flushSync(): void; flush(): void };

const flushers: SonicBoom[] = [];

/**
 * pino JSON to stdout. A `buffered` logger (HTTP workers, which write an access line per request)
 * batches lines into 4 KiB writes, flushed at least every 250 ms: tens of thousands of lines a
 * second must not cost a write(2) each. Lifecycle logs of the primary are written at once.
 */
export function createLogger(level: string, bindings: Record<string, unknown>, buffered = false): Logger {
  const destination = pino.destination({ dest: 1, sync: !buffered, minLength: buffered ? 4096 : 0 }) as SonicBoom;
  if (buffered) {
    flushers.push(destination);
    setInterval(() => destination.flush(), 250).unref();
  }
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** Writes out whatever buffered loggers hold; called before a process exits. */
export function flushLog(): void {
  for (const destination of flushers) {
    try {
      destination.flushSync();
    } catch {
      // Nothing pending, or stdout already closed: nothing more can be done.
    }
  }
}
