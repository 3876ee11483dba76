import { z } from '#zod';
import { span } from './catalogue.js';
import { ruleSchema } from './rules.js';

/**
 * Scenarios: named timelines of phases, each adding fault rules and scaling latency for its
 * duration. Every worker is in the same phase at the same moment: phases run from one start time
 * (the primary's, for a scenario active at start-up). Durations are wall-clock, like faults'.
 */
export const phaseSchema = z
  .object({
    for: span.refine((ms) => ms > 0, 'must be more than 0'),
    /** Rules added after the config's own while the phase lasts (their counts are the phase's own). */
    faults: z.array(ruleSchema).max(100).default([]),
    /** Multiplies TTFT and inter-token gaps of the requests admitted during the phase. */
    latency: z.object({ factor: z.number().min(0).max(100) }).strict().optional(),
  })
  .strict();

export const scenarioSchema = z
  .object({
    /** Start over after the last phase; otherwise the scenario ends there and faults stop. */
    loop: z.boolean().default(false),
    phases: z.array(phaseSchema).min(1).max(100),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;

const p = (probability: number) => ({ when: { probability } });

/** Built-in scenarios, usable by name (`scenario: flaky`, `--scenario flaky`); `scenarios` entries of the same name replace them. */
export const PRESETS: Readonly<Record<string, z.input<typeof scenarioSchema>>> = {
  /** Nothing fails: a scenario to switch back to. */
  healthy: { loop: true, phases: [{ for: '1h' }] },
  /** A few percent of 5xx, and a few cut streams. */
  flaky: {
    loop: true,
    phases: [{ for: '1h', faults: [{ name: 'flaky-5xx', ...p(0.03), fault: { type: 'server_error' } }, { name: 'flaky-cut', match: { stream: true }, ...p(0.02), fault: { type: 'cut' } }] }],
  },
  /** Slow (2.5× TTFT and gaps) and sometimes overloaded. */
  degraded: { loop: true, phases: [{ for: '1h', latency: { factor: 2.5 }, faults: [{ name: 'degraded-overloaded', ...p(0.05), fault: { type: 'overloaded' } }] }] },
  /** 30 s healthy, 60 s every request overloaded, 30 s recovering at 3× latency; then healthy. */
  outage: {
    loop: false,
    phases: [{ for: '30s' }, { for: '60s', faults: [{ name: 'outage', fault: { type: 'overloaded' } }] }, { for: '30s', latency: { factor: 3 } }],
  },
  /** A 429 storm with retry-after, 40 s of every minute. */
  'rate-limited': { loop: true, phases: [{ for: '20s' }, { for: '40s', faults: [{ name: 'storm', ...p(0.8), fault: { type: 'rate_limit', retryAfter: 5 } }] }] },
  /** Streams that break: cuts, stalls, in-band errors, malformed chunks (5 % each). */
  'stream-chaos': {
    loop: true,
    phases: [
      {
        for: '1h',
        faults: [
          { name: 'chaos-cut', match: { stream: true }, ...p(0.05), fault: { type: 'cut' } },
          { name: 'chaos-stall', match: { stream: true }, ...p(0.05), fault: { type: 'stall', ms: 2000 } },
          { name: 'chaos-error', match: { stream: true }, ...p(0.05), fault: { type: 'error_event' } },
          { name: 'chaos-malformed', match: { stream: true }, ...p(0.05), fault: { type: 'malformed_chunk' } },
        ],
      },
    ],
  },
  /** Latency ramping up to 4× and back, 20 s a step. */
  brownout: { loop: true, phases: [1, 1.5, 2, 3, 4, 3, 2, 1.5].map((factor) => ({ for: '20s', latency: { factor } })) },
};

/** A scenario by name: the config's own, else a preset. */
export function findScenario(name: string, own: Readonly<Record<string, Scenario>>): Scenario | undefined {
  if (name in own) return own[name];
  return name in PRESETS ? scenarioSchema.parse(PRESETS[name]) : undefined;
}
