import { SimError } from '../errors.js';
import type { Ledger } from '../cluster/ledger.js';
import { hashString, Rng } from '../sim/rng.js';
import { faultSpecSchema, type FaultSpec } from './catalogue.js';
import { GENERATION_ROUTES, globRegExp, type FaultRoute, type ReplySpec, type Rule, type Trigger } from './rules.js';
import type { Scenario } from './scenarios.js';
import { Ring } from '../ring.js';

export const FAULT_HEADER = 'x-sim-fault';
export const INJECTED_HEADER = 'x-sim-fault-injected';

/** What admission looks at: read from the request before it is validated, tokenized or planned. */
export interface AdmissionInput {
  readonly route: FaultRoute;
  readonly dialect: 'openai' | 'anthropic';
  /** The body's `model` as sent ('' when absent): what `match.model` globs. */
  readonly model: string;
  /** The catalogue id of that model, or `unknown`: the metrics label (bounded, unlike what clients send). */
  readonly modelId: string;
  readonly stream: boolean;
  /** The presented API key's name ('' without one, or when `auth.mode` is not `keys`). */
  readonly key: string;
  /** A request header by lower-case name ('' when absent); only the names `Admission.headerNames` lists are available. */
  header(name: string): string;
  /** The last user message's text, read from the body when a rule asks (`match.prompt`). */
  prompt(): string;
}

/** A request's fate: a fault or a scripted reply, and who decided it (a rule's name, or `header`). */
export type Decision = { readonly fault: FaultSpec; readonly reply?: undefined; readonly source: string } | { readonly fault?: undefined; readonly reply: ReplySpec; readonly source: string };

/** One journal line: a decision, when and for which request. */
export interface JournalEntry {
  readonly time: number;
  readonly requestId: string;
  readonly source: string;
  readonly fault: string;
  readonly route: string;
  readonly model: string;
}

/**
 * `x-sim-fault: <type>[;key=value…]`, keys in kebab or camel case (`retry-after=3`,
 * `bytesPerSecond=100`), numbers as numbers; checked by the same schema as the config's rules.
 */
export function parseFaultHeader(raw: string): FaultSpec {
  const [type, ...params] = raw.split(';').map((p) => p.trim());
  const spec: Record<string, unknown> = { type };
  for (const param of params) {
    if (param === '') continue;
    const eq = param.indexOf('=');
    if (eq <= 0) throw new SimError('invalid_value', `Header ${FAULT_HEADER}: "${param}" is not key=value.`, FAULT_HEADER);
    const key = param.slice(0, eq).trim().replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = param.slice(eq + 1).trim();
    spec[key] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  }
  const parsed = faultSpecSchema.safeParse(spec);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const at = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new SimError('invalid_value', `Header ${FAULT_HEADER}: ${at}${issue.message} (got "${raw}").`, FAULT_HEADER);
}

/** A rule ready to match: its matchers compiled, its trigger's local state. */
class CompiledRule {
  readonly source: string;
  private readonly routes: readonly FaultRoute[] | null;
  private readonly model: RegExp | null;
  private readonly prompt: RegExp | null;
  readonly decision: Decision;
  private readonly headers: readonly (readonly [string, string])[];
  private readonly trigger: Trigger | undefined;
  private readonly key: string;
  private readonly rng: Rng;
  /** `first` spent, or `after` passed: the answer cannot change any more, so the ledger is not asked. */
  private settled: boolean | null = null;

  constructor(
    private readonly rule: Rule,
    index: number,
    seed: number | null,
    worker: number,
    private readonly ledger: Ledger,
    /** When the rule became active (Unix ms): its `window` and `periodic` run from here. */
    private readonly sinceMs: number,
    /** Ledger keys of the config's rules and of each scenario phase's rules stay apart. */
    keyPrefix = 'fault:',
  ) {
    this.source = rule.name ?? `rule${index + 1}`;
    const { route, model, header } = rule.match;
    this.routes = route === undefined ? null : Array.isArray(route) ? route : [route];
    this.model = model === undefined ? null : globRegExp(model);
    this.prompt = rule.match.prompt === undefined ? null : new RegExp(rule.match.prompt);
    this.decision = rule.fault !== undefined ? { fault: rule.fault, source: this.source } : { reply: rule.reply!, source: this.source };
    this.headers = Object.entries(header ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
    this.trigger = rule.when;
    this.key = `${keyPrefix}${index}:${this.source}`;
    // Seeded: the same config seed gives each worker the same draws, run after run.
    this.rng = new Rng(seed === null ? (Math.random() * 0x100000000) | 0 : hashString(this.key, (seed ^ worker) >>> 0));
  }

  headerNames(): string[] {
    return this.headers.map(([k]) => k);
  }

  matches(input: AdmissionInput): boolean {
    const m = this.rule.match;
    if (this.routes !== null && !this.routes.includes(input.route)) return false;
    if (m.dialect !== undefined && m.dialect !== input.dialect) return false;
    if (m.stream !== undefined && m.stream !== input.stream) return false;
    if (m.key !== undefined && m.key !== input.key) return false;
    if (this.model !== null && !this.model.test(input.model)) return false;
    for (const [name, value] of this.headers) if (input.header(name) !== value) return false;
    if ((this.prompt !== null || this.rule.reply !== undefined) && !GENERATION_ROUTES.has(input.route)) return false;
    if (this.prompt !== null && !this.prompt.test(input.prompt())) return false;
    return true;
  }

  /** Whether this matching request gets the fault: at once, or after the ledger counted it. */
  fires(now: number): boolean | Promise<boolean> {
    const w = this.trigger;
    if (w === undefined) return true;
    if (w.probability !== undefined) return this.rng.next() < w.probability;
    const elapsed = now - this.sinceMs;
    if (w.window !== undefined) return elapsed >= w.window.from && (w.window.until === undefined || elapsed < w.window.until);
    if (w.periodic !== undefined) return elapsed >= 0 && elapsed % w.periodic.every < w.periodic.for;
    if (this.settled !== null) return this.settled;
    const counted = this.ledger.add(this.key, 1);
    return typeof counted === 'number' ? this.byCount(counted) : counted.then((n) => this.byCount(n));
  }

  /** The count-based triggers, for the `n`th matching request of the cluster (from 1). */
  private byCount(n: number): boolean {
    const w = this.trigger!;
    if (w.first !== undefined) {
      if (n >= w.first) this.settled = false; // for the requests after this one
      return n <= w.first;
    }
    if (w.after !== undefined) {
      if (n > w.after) this.settled = true;
      return n > w.after;
    }
    if (w.every !== undefined) return n % w.every === 0;
    return w.pattern![(n - 1) % w.pattern!.length] === 'x';
  }
}

/** A scenario as it runs: each phase's start and end (ms from activation) and its compiled rules. */
interface ActiveScenario {
  readonly name: string;
  readonly startMs: number;
  readonly loop: boolean;
  readonly totalMs: number;
  readonly phases: readonly { readonly fromMs: number; readonly untilMs: number; readonly rules: CompiledRule[]; readonly latencyFactor: number }[];
}

interface AdmissionOptions {
  readonly seed: number | null;
  readonly worker: number;
  readonly ledger: Ledger;
  readonly journalSize: number;
}

/**
 * The admission stage's fault decision, one per process. Dialect-neutral: it says which fault,
 * the dialects render it (src/http/faults.ts). Off (no rules, no scenario, no header) it costs
 * the caller one check; with rules, a request's fate is decided from its route, model, stream
 * flag and headers before it is validated, tokenized or planned.
 */
export class Admission {
  private rules: CompiledRule[];
  private scenario: ActiveScenario | null = null;
  /** The request headers any rule matches on, read by the route handler only when there are some. */
  headerNames: readonly string[];
  /** The newest decisions of this process (the admin API reads them). */
  readonly journal: Ring<JournalEntry>;

  /** `since`: when each rule became active (Unix ms), the start of its `window` and `periodic`. */
  constructor(
    config: readonly Rule[],
    since: readonly number[],
    private readonly options: AdmissionOptions,
  ) {
    this.rules = this.compile(config, since);
    this.headerNames = this.collectHeaderNames();
    this.journal = new Ring<JournalEntry>(options.journalSize);
  }

  /** A reload's rules replace the config's (a rule's count in the ledger goes on while its name and place stay). */
  replaceRules(config: readonly Rule[], since: readonly number[]): void {
    this.rules = this.compile(config, since);
    this.headerNames = this.collectHeaderNames();
  }

  private compile(config: readonly Rule[], since: readonly number[]): CompiledRule[] {
    const { seed, worker, ledger } = this.options;
    return config.map((r, i) => new CompiledRule(r, i, seed, worker, ledger, since[i]!));
  }

  get hasRules(): boolean {
    return this.rules.length > 0 || this.scenario !== null;
  }

  /**
   * Makes `scenario` the running one from `startMs` (Unix ms; every worker is given the same),
   * or stops any with null. The one way a scenario starts: at start-up from the config, and
   * later from the control plane.
   */
  activate(name: string, scenario: Scenario | null, startMs: number): void {
    if (scenario === null) {
      this.scenario = null;
      this.headerNames = this.collectHeaderNames();
      return;
    }
    const { seed, worker, ledger } = this.options;
    let at = 0;
    const phases = scenario.phases.map((phase, k) => {
      const rules = phase.faults.map((r, i) => new CompiledRule(r, i, seed, worker, ledger, startMs, `scenario:${name}:${startMs}:${k}:`));
      const fromMs = at;
      at += phase.for;
      return { fromMs, untilMs: at, rules, latencyFactor: phase.latency?.factor ?? 1 };
    });
    this.scenario = { name, startMs, loop: scenario.loop, totalMs: at, phases };
    this.headerNames = this.collectHeaderNames();
  }

  /** The running scenario's name and start (Unix ms), for the admin API; null without one. */
  running(): { readonly name: string; readonly startMs: number } | null {
    return this.scenario === null ? null : { name: this.scenario.name, startMs: this.scenario.startMs };
  }

  /** The phase running at `now` (Unix ms), if a scenario is. */
  private phaseAt(now: number): ActiveScenario['phases'][number] | null {
    const s = this.scenario;
    if (s === null) return null;
    let elapsed = now - s.startMs;
    if (elapsed < 0) return null;
    if (elapsed >= s.totalMs) {
      if (!s.loop) return null;
      elapsed %= s.totalMs;
    }
    for (const phase of s.phases) if (elapsed < phase.untilMs) return phase;
    return null;
  }

  /** What the running phase multiplies TTFT and inter-token gaps by: 1 without a scenario. */
  latencyFactor(): number {
    return this.scenario === null ? 1 : (this.phaseAt(Date.now())?.latencyFactor ?? 1);
  }

  /** The first rule that fires decides: the config's rules, then the running phase's; `x-sim-fault` (already parsed) overrides them all. */
  decide(input: AdmissionInput, forced: FaultSpec | null): Decision | null | Promise<Decision | null> {
    if (forced !== null) return { fault: forced, source: 'header' };
    const now = Date.now();
    return this.from(this.rules, 0, input, now, this.phaseAt(now)?.rules ?? null);
  }

  private from(rules: readonly CompiledRule[], start: number, input: AdmissionInput, now: number, next: readonly CompiledRule[] | null): Decision | null | Promise<Decision | null> {
    for (let i = start; i < rules.length; i++) {
      const rule = rules[i]!;
      if (!rule.matches(input)) continue;
      const fires = rule.fires(now);
      if (fires === true) return rule.decision;
      // The rules after this one wait for its count: the first that fires wins, in order.
      if (fires !== false) return fires.then((yes) => (yes ? rule.decision : this.from(rules, i + 1, input, now, next)));
    }
    return next === null ? null : this.from(next, 0, input, now, null);
  }

  private collectHeaderNames(): string[] {
    const phaseRules = this.scenario?.phases.flatMap((p) => p.rules) ?? [];
    return [...new Set([...this.rules, ...phaseRules].flatMap((r) => r.headerNames()))];
  }
}
