import t from 'tap';
import { OpenExchanges, type Exchange } from '../../src/http/exchange.js';

/** Stand-ins for exchanges: OpenExchanges touches only `openIndex`. */
const make = (n: number): Exchange[] => Array.from({ length: n }, () => ({ openIndex: -1 }) as Exchange);

t.test('open exchanges: any removal order leaves exactly the others, each knowing its place', async (t) => {
  // Every removal order of five (first, middle, last, the one just moved into a gap) against a Set.
  const orders = [
    [0, 1, 2, 3, 4],
    [4, 3, 2, 1, 0],
    [2, 0, 4, 1, 3],
    [1, 4, 0, 3, 2],
  ];
  for (const order of orders) {
    const open = new OpenExchanges();
    const all = make(5);
    for (const ex of all) open.add(ex);
    const expected = new Set(all);
    for (const i of order) {
      open.delete(all[i]!);
      expected.delete(all[i]!);
      const now = open.all();
      t.equal(open.size, expected.size);
      t.same(new Set(now), expected, `after removing ${i} (order ${order.join(',')})`);
      t.ok(now.every((ex, place) => ex.openIndex === place), 'each knows its place');
      t.equal(all[i]!.openIndex, -1, 'a removed one is marked');
    }
  }
});

t.test('all() is a copy: ending exchanges while going through them removes each once', async (t) => {
  const open = new OpenExchanges();
  const all = make(4);
  for (const ex of all) open.add(ex);
  let ended = 0;
  for (const ex of open.all()) {
    open.delete(ex);
    ended++;
  }
  t.equal(ended, 4);
  t.equal(open.size, 0);
});
