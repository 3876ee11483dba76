import t from 'tap';
import { validateConfig } from '../../src/config/load.js';
import { Budget, LEASE_MS, Limiter, localStore, type BucketSpec, type BudgetStore, type Cost, type Grant } from '../../src/edge/limits.js';

// A worker's leases against a store that answers only when the test lets it (as the primary or
// Redis answers after a round trip): a lease that requests spend from is renewed when it expires,
// and requests meanwhile spend what it still holds instead of waiting for the store.

const ONE_REQUEST: Cost = { requests: 1, tokens: 0, inputTokens: 0, outputTokens: 0 };

/** The local budget behind a gate: every take and give is recorded, and a take resolves when `answer()` is called. */
function gatedStore(): BudgetStore & { takes: number; gives: number[]; answer(): void } {
  const inner = localStore(new Budget());
  const waiting: (() => void)[] = [];
  const store = {
    takes: 0,
    gives: [] as number[],
    take(spec: BucketSpec, need: number, want: number): Promise<Grant> {
      store.takes++;
      return new Promise<Grant>((resolve) => waiting.push(() => resolve(inner.take(spec, need, want) as Grant)));
    },
    give(spec: BucketSpec, amount: number): void {
      store.gives.push(amount);
      inner.give(spec, amount);
    },
    reset: (client: string | null) => inner.reset(client),
    answer(): void {
      for (const go of waiting.splice(0)) go();
    },
  };
  return store;
}

async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  for (const stop = Date.now() + ms; !ok(); ) {
    if (Date.now() > stop) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('a spent lease is renewed when it expires, without a request waiting for the store', async (t) => {
  const config = validateConfig({ limits: { default: { requestsPerMinute: 6000 } } });
  const store = gatedStore();
  // Two workers: a lease is a twentieth of the bucket (300 requests).
  const limiter = new Limiter(config.limits, store, 2);
  const plan = limiter.plan('team-a', null, 'gpt-4o-mini', 'chat.completions');

  // The first request has no lease: it waits for the store's answer.
  const first = limiter.admit(plan, ONE_REQUEST);
  t.ok(first instanceof Promise, 'the first request waits for a lease');
  store.answer();
  t.equal(await first, true);
  for (let i = 0; i < 9; i++) t.equal(limiter.admit(plan, ONE_REQUEST), true, 'later ones spend the lease at once');

  // It expires while spent from: a new lease is asked for, and the old one still serves meanwhile.
  await until('the renewal', () => store.takes === 2, LEASE_MS * 10);
  t.same(store.gives, [], 'nothing given back before the answer');
  for (let i = 0; i < 5; i++) t.equal(limiter.admit(plan, ONE_REQUEST), true, 'requests during the renewal are admitted at once');
  store.answer();
  await until('the swap', () => store.gives.length === 1);
  t.same(store.gives, [300 - 15], 'when the answer comes, what the old lease still held goes back');
  // The headers' remaining count: the bucket less the 15 requests spent (and whatever refilled,
  // up to the whole bucket), not less the lease that went back.
  const remaining = limiter.tightest(plan).remaining[0]!;
  t.ok(remaining >= 6000 - 15 && remaining <= 6000, `remaining after the swap: ${remaining} of 6000, 15 spent`);
  t.equal(limiter.admit(plan, ONE_REQUEST), true, 'and requests spend the new lease');

  // Spent from again, so renewed again; then idle through a whole term: it goes back whole, and the store is not asked.
  await until('the second renewal', () => store.takes === 3, LEASE_MS * 10);
  store.answer();
  await until('the second swap', () => store.gives.length === 2);
  t.equal(store.gives[1], 299, 'the second swap gives back what the second lease did not serve');
  await until('the idle lease going back', () => store.gives.length === 3, LEASE_MS * 10);
  t.equal(store.gives[2], 300, 'a lease nobody spent from goes back whole');
  t.equal(store.takes, 3, 'and is not renewed');
});
