import type { ModelConfig } from '../config/schema.js';
import type { Tokenizer } from './tokens.js';

export type Model = Readonly<ModelConfig>;

/** The built-in catalogue; each model points at a latency profile of src/sim/profiles.ts. */
const BUILT_IN: ModelConfig[] = [
  // OpenAI publishes the snapshots' days, not the second /v1/models reports: the day's start stands in.
  openai('gpt-5.2', 'GPT-5.2', 1765411200, 400_000, 128_000, 'openai-large', ['gpt-5.2-2025-12-11']),
  openai('gpt-5.1', 'GPT-5.1', 1762992000, 400_000, 128_000, 'openai-large', ['gpt-5.1-2025-11-13']),
  openai('gpt-5', 'GPT-5', 1754425777, 400_000, 128_000, 'openai-large', ['gpt-5-2025-08-07']),
  openai('gpt-5-mini', 'GPT-5 mini', 1754425867, 400_000, 128_000, 'openai-mini', ['gpt-5-mini-2025-08-07']),
  openai('gpt-5-nano', 'GPT-5 nano', 1754426384, 400_000, 128_000, 'openai-nano', ['gpt-5-nano-2025-08-07']),
  openai('gpt-4.1', 'GPT-4.1', 1744316542, 1_047_576, 32_768, 'openai-large', ['gpt-4.1-2025-04-14']),
  openai('gpt-4.1-mini', 'GPT-4.1 mini', 1744318173, 1_047_576, 32_768, 'openai-mini', ['gpt-4.1-mini-2025-04-14']),
  openai('gpt-4.1-nano', 'GPT-4.1 nano', 1744321707, 1_047_576, 32_768, 'openai-nano', ['gpt-4.1-nano-2025-04-14']),
  openai('gpt-4o', 'GPT-4o', 1715367049, 128_000, 16_384, 'openai-large', ['gpt-4o-2024-08-06']),
  openai('gpt-4o-mini', 'GPT-4o mini', 1721172741, 128_000, 16_384, 'openai-mini', ['gpt-4o-mini-2024-07-18']),
  openai('o4-mini', 'o4-mini', 1744225351, 200_000, 100_000, 'openai-reasoning', ['o4-mini-2025-04-16']),
  { ...openai('gpt-3.5-turbo-instruct', 'GPT-3.5 Turbo Instruct', 1692901427, 4_096, 4_096, 'openai-instruct', []), kind: 'completion', tokenizer: 'cl100k_base' },
  embedding('text-embedding-3-small', 'text-embedding-3-small', 1705948997, 8_191, 1536),
  embedding('text-embedding-3-large', 'text-embedding-3-large', 1705953180, 8_191, 3072),
  embedding('text-embedding-ada-002', 'text-embedding-ada-002', 1671217299, 8_191, 1536),
  // Since Opus 4.6 a model's id is its only name (no dated snapshot beside it).
  claude('claude-opus-5-5', 'Claude Opus 5.5', '2026-09-22', 128_000, 'claude-opus', [], 1_000_000),
  claude('claude-sonnet-5-5', 'Claude Sonnet 5.5', '2026-09-28', 128_000, 'claude-sonnet', [], 1_000_000),
  claude('claude-opus-5', 'Claude Opus 5', '2026-07-24', 128_000, 'claude-opus', [], 1_000_000),
  claude('claude-sonnet-5', 'Claude Sonnet 5', '2026-06-30', 128_000, 'claude-sonnet', [], 1_000_000),
  claude('claude-sonnet-4-6', 'Claude Sonnet 4.6', '2026-02-17', 128_000, 'claude-sonnet', [], 1_000_000),
  claude('claude-opus-4-6', 'Claude Opus 4.6', '2026-02-05', 128_000, 'claude-opus', [], 1_000_000),
  claude('claude-opus-4-5-20251101', 'Claude Opus 4.5', '2025-11-01', 64_000, 'claude-opus', ['claude-opus-4-5']),
  claude('claude-opus-4-1-20250805', 'Claude Opus 4.1', '2025-08-05', 32_000, 'claude-opus', ['claude-opus-4-1']),
  claude('claude-opus-4-20250514', 'Claude Opus 4', '2025-05-14', 32_000, 'claude-opus', ['claude-opus-4-0']),
  claude('claude-sonnet-4-5-20250929', 'Claude Sonnet 4.5', '2025-09-29', 64_000, 'claude-sonnet', ['claude-sonnet-4-5']),
  claude('claude-sonnet-4-20250514', 'Claude Sonnet 4', '2025-05-14', 64_000, 'claude-sonnet', ['claude-sonnet-4-0']),
  claude('claude-haiku-4-5-20251001', 'Claude Haiku 4.5', '2025-10-01', 64_000, 'claude-haiku', ['claude-haiku-4-5']),
  claude('claude-3-5-haiku-20241022', 'Claude Haiku 3.5', '2024-10-22', 8_192, 'claude-haiku', ['claude-3-5-haiku-latest']),
];

function openai(id: string, displayName: string, created: number, contextWindow: number, maxOutputTokens: number, profile: string, aliases: string[]): ModelConfig {
  return { id, aliases, provider: 'openai', kind: 'chat', displayName, created, contextWindow, maxOutputTokens, profile };
}

function embedding(id: string, displayName: string, created: number, contextWindow: number, dims: number): ModelConfig {
  return { id, aliases: [], provider: 'openai', kind: 'embedding', displayName, created, contextWindow, maxOutputTokens: 1, embeddingDimensions: dims, profile: 'openai-embedding', tokenizer: 'cl100k_base' };
}

function claude(id: string, displayName: string, date: string, maxOutputTokens: number, profile: string, aliases: string[], contextWindow = 200_000): ModelConfig {
  return { id, aliases, provider: 'anthropic', kind: 'chat', displayName, created: Date.parse(`${date}T00:00:00Z`) / 1000, contextWindow, maxOutputTokens, profile };
}

/**
 * A model as one object literal, every field in place: models built in here, parsed from a
 * configuration (zod adds their fields one by one) or of another kind (embeddings have two fields
 * more) then share one hidden class. With several, each request's first look at a configured
 * model deoptimised the request's path (`simulate`, `admit`, `deliver`, `complete`: `wrong map`
 * under `--trace-deopt`), since the start-up warm-up only asks for built-in models.
 */
const shaped = (m: ModelConfig): Model => ({
  id: interned(m.id),
  aliases: m.aliases,
  provider: interned(m.provider),
  kind: interned(m.kind),
  displayName: m.displayName,
  created: m.created,
  contextWindow: m.contextWindow,
  maxOutputTokens: m.maxOutputTokens,
  embeddingDimensions: m.embeddingDimensions,
  tokenizer: m.tokenizer === undefined ? undefined : interned(m.tokenizer),
  profile: interned(m.profile),
});

/**
 * The string as V8's internalized copy (a property key is internalized, and Object.keys gives that
 * copy back). A configuration's strings come from the YAML parser as slices of the file, where
 * the built-in models' are internalized literals; the request path's compiled comparisons
 * (`model.kind === 'embedding'`, `model.provider === 'anthropic'`) expect the latter, and a
 * configured model's first request deoptimised `chatCompletions` and `simulate` (`wrong instance
 * type`), which then ran unoptimised for seconds under a light load.
 */
const interned = <S extends string>(s: S): S => Object.keys({ [s]: 0 })[0] as S;

export class Catalogue {
  /** In catalogue order: built-ins first, then config additions. */
  readonly models: readonly Model[];
  private readonly byName = new Map<string, Model>();

  constructor(extra: readonly ModelConfig[] = []) {
    const replaced = new Set(extra.map((m) => m.id));
    this.models = [...BUILT_IN.filter((m) => !replaced.has(m.id)), ...extra].map(shaped);
    for (const model of this.models) {
      this.byName.set(model.id, model);
      for (const alias of model.aliases) this.byName.set(alias, model);
    }
  }

  /** A model by id or alias. */
  find(name: string): Model | undefined {
    return this.byName.get(name);
  }
}

/** The model's tokenizer: as configured, else `approximate` for Anthropic models and `o200k_base` for the rest. */
export const tokenizerOf = (model: Model): Tokenizer => model.tokenizer ?? (model.provider === 'anthropic' ? 'approximate' : 'o200k_base');
