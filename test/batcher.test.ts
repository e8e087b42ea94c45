import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { Batcher, observeBatches, setGroupCommit } from '../src/platform/batcher';

/** One turn of the event loop: resolves after every setImmediate queued before it has run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

/** A promise settled from outside, to hold a batch "in the database" for as long as a test needs. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Tracks whether a promise has settled yet, without awaiting it. */
function watch<T>(p: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

describe('Batcher', () => {
  it('runs the items submitted in one turn as one batch, in call order, and answers each caller its own result', async () => {
    const runs: string[][] = [];
    const sizes: number[] = [];
    const b = new Batcher<string, string>(
      async (items) => {
        runs.push([...items]);
        return items.map((item) => `result of ${item}`);
      },
      { onBatch: (n) => sizes.push(n) },
    );
    const answers = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((item) => b.submit(item)));
    assert.deepEqual(runs, [['a', 'b', 'c', 'd', 'e']]);
    assert.deepEqual(sizes, [5]);
    assert.deepEqual(answers, ['result of a', 'result of b', 'result of c', 'result of d', 'result of e']);
  });

  it('maps results by position even when they do not echo the item', async () => {
    // a run that answers the index: each caller must get the answer at its own position
    const b = new Batcher<number, number>(async (items) => items.map((_, i) => i * 100));
    const answers = await Promise.all([7, 7, 7, 7].map((item) => b.submit(item)));
    assert.deepEqual(answers, [0, 100, 200, 300]);
  });

  it('queues the items submitted while maxInFlight batches run and sends them as the next batch', async () => {
    const runs: number[][] = [];
    const sizes: number[] = [];
    const gates: Array<ReturnType<typeof gate>> = [];
    const b = new Batcher<number, number>(
      async (items) => {
        runs.push([...items]);
        const g = gate();
        gates.push(g);
        await g.opened;
        return items.map((x) => x * 2);
      },
      { maxInFlight: 2, onBatch: (n) => sizes.push(n) },
    );

    const first = b.submit(1);
    await turn();
    const second = b.submit(2);
    await turn();
    assert.deepEqual(runs, [[1], [2]], 'two batches fill the two slots');

    // both slots are busy: these calls, made over several turns, wait together
    const queued = [b.submit(3), b.submit(4)];
    await turn();
    queued.push(b.submit(5));
    await turns(3);
    assert.deepEqual(runs, [[1], [2]], 'no third batch while maxInFlight batches run');
    const watched = queued.map(watch);
    assert.ok(watched.every((w) => !w.settled));

    gates[0]!.open();
    assert.equal(await first, 2);
    await turns(2);
    assert.deepEqual(runs, [[1], [2], [3, 4, 5]], 'the waiting calls went in one batch once a slot freed');
    gates[1]!.open();
    gates[2]!.open();
    assert.equal(await second, 4);
    assert.deepEqual(await Promise.all(queued), [6, 8, 10]);
    assert.deepEqual(sizes, [1, 1, 3]);
  });

  it('with maxInFlight 1, runs one batch at a time', async () => {
    let running = 0;
    let maxRunning = 0;
    const runs: number[][] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        runs.push([...items]);
        running++;
        maxRunning = Math.max(maxRunning, running);
        await turns(2);
        running--;
        return items.map((x) => -x);
      },
      { maxInFlight: 1 },
    );
    const answers: Promise<number>[] = [];
    for (let i = 1; i <= 10; i++) {
      answers.push(b.submit(i));
      await turn();
    }
    assert.deepEqual(await Promise.all(answers), [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10]);
    assert.equal(maxRunning, 1);
    assert.deepEqual(runs.flat(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'every item ran once, in call order');
    assert.ok(runs.length < 10, `later calls were grouped while a batch ran (batches: ${JSON.stringify(runs)})`);
  });

  it('splits a burst larger than maxBatch into batches of at most maxBatch items, in call order', async () => {
    const runs: number[][] = [];
    const sizes: number[] = [];
    const b = new Batcher<number, string>(
      async (items) => {
        runs.push([...items]);
        return items.map((x) => `#${x}`);
      },
      { maxBatch: 3, onBatch: (n) => sizes.push(n) },
    );
    const items = Array.from({ length: 8 }, (_, i) => i + 1);
    const answers = await Promise.all(items.map((x) => b.submit(x)));
    assert.deepEqual(answers, items.map((x) => `#${x}`));
    assert.deepEqual(runs, [[1, 2, 3], [4, 5, 6], [7, 8]]);
    assert.deepEqual(sizes, [3, 3, 2]);
  });

  it('with maxBatch 1 runs every item alone', async () => {
    const runs: number[][] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        runs.push([...items]);
        return items.map((x) => x + 1);
      },
      { maxBatch: 1, maxInFlight: 4 },
    );
    assert.deepEqual(await Promise.all([10, 20, 30].map((x) => b.submit(x))), [11, 21, 31]);
    assert.deepEqual(runs, [[10], [20], [30]]);
  });

  it('when a batch of 3 throws because of one bad item, resolves the 2 good ones and rejects the bad one with its own error', async () => {
    const runs: string[][] = [];
    const b = new Batcher<string, string>(async (items) => {
      runs.push([...items]);
      // atomic, like one statement: one bad item fails the whole batch
      if (items.includes('bad')) throw new Error(`refused [${items.join(',')}]`);
      return items.map((x) => x.toUpperCase());
    });
    const [good1, bad, good2] = await Promise.allSettled([b.submit('good1'), b.submit('bad'), b.submit('good2')]);
    assert.deepEqual(good1, { status: 'fulfilled', value: 'GOOD1' });
    assert.deepEqual(good2, { status: 'fulfilled', value: 'GOOD2' });
    assert.equal(bad!.status, 'rejected');
    assert.equal(((bad as PromiseRejectedResult).reason as Error).message, 'refused [bad]', 'the error of its own run, not the batch one');
    assert.deepEqual(runs[0], ['good1', 'bad', 'good2']);
    assert.deepEqual(
      runs.slice(1).sort(),
      [['bad'], ['good1'], ['good2']],
      'after the batch failed, each item ran again alone, once',
    );
  });

  it('rejects a lone item with the error its run threw, without retrying it', async () => {
    let calls = 0;
    const boom = new Error('boom');
    const b = new Batcher<number, number>(async () => {
      calls++;
      throw boom;
    });
    await assert.rejects(b.submit(1), (e: unknown) => e === boom);
    assert.equal(calls, 1);
  });

  it('keeps working after a failed batch (its slot is freed)', async () => {
    let fail = true;
    const b = new Batcher<number, number>(
      async (items) => {
        if (fail) throw new Error('down');
        return items.map((x) => x * 3);
      },
      { maxInFlight: 1 },
    );
    const failed = await Promise.allSettled([b.submit(1), b.submit(2)]);
    assert.deepEqual(failed.map((r) => r.status), ['rejected', 'rejected']);
    fail = false;
    assert.deepEqual(await Promise.all([b.submit(4), b.submit(5)]), [12, 15]);
  });

  it('rejects every caller when run always answers the wrong number of results (never resolves undefined)', async () => {
    const runs: number[][] = [];
    const b = new Batcher<number, number>(async (items) => {
      runs.push([...items]);
      return items.slice(1).map((x) => x * 10); // one result short
    });
    const settled = await Promise.allSettled([b.submit(1), b.submit(2), b.submit(3)]);
    for (const [i, r] of settled.entries()) {
      assert.equal(r.status, 'rejected', `item ${i + 1} must not resolve (got ${JSON.stringify(r)})`);
      assert.match(String(((r as PromiseRejectedResult).reason as Error).message), /result/);
    }
    assert.deepEqual(runs, [[1, 2, 3]], 'run once: a wrong count is a bug after the writes, never retried');
  });

  it('rejects when run answers too many results too', async () => {
    const b = new Batcher<number, number>(async (items) => [...items, 99]);
    const settled = await Promise.allSettled([b.submit(1), b.submit(2)]);
    assert.deepEqual(settled.map((r) => r.status), ['rejected', 'rejected']);
  });

  it('never runs again a batch answered with the wrong count (its writes may have committed): every caller gets the error', async () => {
    let runs = 0;
    const b = new Batcher<number, number>(async (items) => {
      runs++;
      return items.slice(0, 1).map((x) => x * 10); // only ever one answer
    });
    const answers = await Promise.allSettled([b.submit(1), b.submit(2), b.submit(3)]);
    assert.equal(runs, 1);
    for (const a of answers) {
      assert.equal(a.status, 'rejected');
      assert.match(String((a as PromiseRejectedResult).reason), /1 results for 3 items/);
    }
  });

  it('retries a failed batch one item at a time, inside its in-flight slot', async () => {
    let running = 0;
    let most = 0;
    const b = new Batcher<number, number>(
      async (items) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setImmediate(r));
        running--;
        if (items.length > 1) throw new Error('batch refused');
        return [...items];
      },
      { maxInFlight: 1 },
    );
    assert.deepEqual(await Promise.all(Array.from({ length: 20 }, (_, i) => b.submit(i))), Array.from({ length: 20 }, (_, i) => i));
    assert.equal(most, 1);
  });

  it('resolves a lone submit within one turn of the event loop, with no timer wait', async (t) => {
    // timers are frozen: a batcher that waited on setTimeout would never answer here
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const runs: number[][] = [];
    const b = new Batcher<number, string>(async (items) => {
      runs.push([...items]);
      return items.map((x) => `ok ${x}`);
    });
    const answer = watch(b.submit(42));
    assert.equal(answer.settled, false, 'not run synchronously: calls of the same turn must be able to join');
    await turn();
    assert.deepEqual(runs, [[42]]);
    assert.deepEqual(answer, { settled: true, value: 'ok 42' });
  });

  it('a second lone submit after the first answered also resolves within one turn', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    try {
      const b = new Batcher<number, number>(async (items) => items);
      assert.equal(await b.submit(1), 1);
      const second = watch(b.submit(2));
      await turn();
      assert.deepEqual(second, { settled: true, value: 2 });
    } finally {
      mock.timers.reset();
    }
  });

  it('with group commit off (GROUP_COMMIT=false), runs every call on its own with the same answers', async () => {
    const runs: number[][] = [];
    const b = new Batcher<number, number>(async (items) => {
      runs.push([...items]);
      return items.map((x) => x + 1);
    });
    setGroupCommit(false);
    try {
      assert.deepEqual(await Promise.all([b.submit(1), b.submit(2), b.submit(3)]), [2, 3, 4]);
    } finally {
      setGroupCommit(true);
    }
    assert.deepEqual(runs, [[1], [2], [3]]);
    assert.deepEqual(await Promise.all([b.submit(4), b.submit(5)]), [5, 6]);
    assert.deepEqual(runs.at(-1), [4, 5], 'on again: batched');
  });

  it('reports each batch by name to every observer until it stops observing', async () => {
    const seen: Array<[string, number]> = [];
    const stop = observeBatches((name, size) => seen.push([name, size]));
    const b = new Batcher<number, number>(async (items) => [...items], { name: 'test.items' });
    await Promise.all([b.submit(1), b.submit(2), b.submit(3)]);
    stop();
    await b.submit(4);
    assert.deepEqual(
      seen.filter(([name]) => name === 'test.items'),
      [['test.items', 3]],
    );
  });
});
