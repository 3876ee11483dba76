/**
 * `list.map(f)`, always as a packed array. V8's own `map` makes a holey array when unoptimised
 * code calls it and a packed one when TurboFan has inlined it, so the arrays of one call site
 * changed shape each time their caller was deoptimised or optimised again, and every function
 * they flowed into deoptimised in turn (`wrong map` under `--trace-deopt`: the prompt's texts and
 * counts flipped to holey in the start-up warm-up's last rounds, which left `plan` and
 * `promptTotal` unoptimised for the first seconds of a load). A literal filled by `push` stays
 * packed in every tier.
 */
export function packedMap<T, U>(list: readonly T[], f: (item: T, index: number) => U): U[] {
  const out: U[] = [];
  for (let i = 0; i < list.length; i++) out.push(f(list[i]!, i));
  return out;
}
