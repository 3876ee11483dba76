import t from 'tap';
import { Rpc, type Reply, type ToPrimary, type ToWorker } from '../../src/cluster/ipc.js';

t.test('requests are answered by id, out of order', async (t) => {
  let primarySide!: Rpc<ToWorker>;
  const sent: (ToPrimary | Reply)[] = [];
  const workerSide = new Rpc<ToPrimary>((msg) => sent.push(msg));
  primarySide = new Rpc<ToWorker>((msg) => {
    if (msg.type === 'reply') workerSide.settle(msg);
  });
  const a = workerSide.request({ type: 'metrics.cluster' }, 1000);
  const b = workerSide.request({ type: 'metrics.cluster' }, 1000);
  const [first, second] = sent as { id: number }[];
  primarySide.answer(second!.id, Promise.resolve('B'));
  primarySide.answer(first!.id, Promise.resolve('A'));
  t.equal(await a, 'A');
  t.equal(await b, 'B');
});

t.test('a failed answer crosses as {code, message}', async (t) => {
  const workerSide: Rpc<ToPrimary> = new Rpc<ToPrimary>(() => {});
  const primarySide = new Rpc<ToWorker>((msg) => {
    if (msg.type === 'reply') {
      t.same(Object.keys(msg).sort(), ['error', 'id', 'ok', 'type']);
      workerSide.settle(msg);
    }
  });
  const p = workerSide.request({ type: 'metrics.cluster' }, 1000);
  primarySide.answer(1, Promise.reject(new Error('boom')));
  await t.rejects(p, { message: 'boom', code: 'internal_error' });
});

t.test('a request without a reply fails at its deadline', async (t) => {
  const rpc = new Rpc<ToPrimary>(() => {});
  await t.rejects(rpc.request({ type: 'metrics.cluster' }, 20), /no reply within 20 ms/);
});

t.test('close fails everything still waiting', async (t) => {
  const rpc = new Rpc<ToPrimary>(() => {});
  const p = rpc.request({ type: 'metrics.cluster' }, 10_000);
  rpc.close('worker exited');
  await t.rejects(p, /worker exited/);
});
