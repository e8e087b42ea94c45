import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { backends, startTestApp, type TestApp } from './support/harness';

// QA pass 3 of attribution recompute: the range rule. [from, to) must hold at least one instant: equal or inverted
// bounds are 400 invalid_range and queue nothing (with or without an Idempotency-Key); a millisecond is a range.

const URL = '/v1/admin/attribution/recompute';

for (const backend of backends()) {
  describe(`attribution recompute range [${backend.name}]`, () => {
    let t: TestApp;
    let admin: { token: string };
    before(async () => {
      t = await startTestApp(backend);
      admin = await t.signUp('admin');
    });
    after(() => t.close());

    const jobs = async () => (await t.request({ url: `${URL}?limit=100`, token: admin.token })).body.items.length as number;

    it('an empty or inverted range is 400 invalid_range and queues no job; a one-millisecond range is a job', async () => {
      const before = await jobs();
      const at = '2026-01-02T00:00:00.000Z';
      const refused: Array<{ from: string; to: string }> = [
        { from: at, to: at },
        { from: at, to: '2026-01-02T01:00:00+01:00' }, // the same instant in another offset
        { from: '2026-01-02T00:00:00.001Z', to: at },
        { from: '2026-01-03T00:00:00Z', to: at },
      ];
      for (const body of refused) {
        for (const headers of [{}, { 'idempotency-key': randomUUID() }] as Array<Record<string, string>>) {
          const res = await t.request({ method: 'POST', url: URL, token: admin.token, body, headers });
          assert.deepEqual([res.status, res.body.error?.code], [400, 'invalid_range'], JSON.stringify(body));
          assert.match(res.body.error.message, /must be before/);
        }
      }
      assert.equal(await jobs(), before, 'nothing was queued');
      const tiny = await t.request({ method: 'POST', url: URL, token: admin.token, body: { from: at, to: '2026-01-02T00:00:00.001Z' } });
      assert.equal(tiny.status, 202, JSON.stringify(tiny.body));
      assert.deepEqual([tiny.body.from, tiny.body.to, tiny.body.status], [at, '2026-01-02T00:00:00.001Z', 'queued']);
      assert.equal(await jobs(), before + 1);
    });
  });
}
