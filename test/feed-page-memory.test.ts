import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backends, startTestApp, type TestApp } from './support/harness';

// Feed pages are written into reused memory (feed/present.ts, PageMemory): a page's block is lent to one page at a
// time and goes back only when that page is handed back (the route does it once the response has been sent).
const [backend] = backends();
describe(`feed page memory [${backend!.name}]`, () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp(backend!);
  });
  after(() => t.close());

  const social = () => t.app.contexts.social.service;
  const page = async () => {
    const r = await social().getFeed(null, undefined, 10);
    assert.ok(r.ok);
    return r.page;
  };

  it('reuses a page handed back, never a page still in use, and ignores a page handed back after its memory moved on', async () => {
    const a = await page();
    const text = a.toString();
    const b = await page();
    assert.notEqual(b.buffer, a.buffer, 'a page not handed back keeps its memory');
    social().recycleFeedPage(a);
    const c = await page();
    assert.equal(c.buffer, a.buffer, 'the memory of a page handed back holds a later page');
    assert.equal(c.toString(), text);
    social().recycleFeedPage(a); // a stale handle: its memory is c's now
    const d = await page();
    assert.notEqual(d.buffer, c.buffer, 'c is still in use: its memory is not lent again');
    assert.notEqual(d.buffer, b.buffer);
    assert.equal(c.toString(), text);
  });

  it('sends whole, valid pages through the route (the memory is handed back after the response)', async () => {
    const bodies = await Promise.all(Array.from({ length: 20 }, () => t.request({ url: '/v1/feed' })));
    for (const res of bodies) {
      assert.equal(res.status, 200);
      assert.ok(Array.isArray(res.body.posts));
    }
  });
});
