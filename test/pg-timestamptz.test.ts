import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createRequire } from 'node:module';
import { parseTimestamptz } from '../src/platform/db';

// the parser pg itself registers for timestamptz (node-postgres → pg-types → postgres-date)
const parseDate = createRequire(import.meta.url)('postgres-date') as (text: string) => Date | number | null;

// pg's own timestamptz parser (postgres-date) is the reference: the fast path must give the same instant for every
// text PostgreSQL writes, and hand everything else to it.
const same = (text: string) => {
  const ours = parseTimestamptz(text);
  const theirs = parseDate(text);
  const key = (v: unknown) => (v instanceof Date ? `date:${v.getTime()}` : `other:${String(v)}`);
  assert.equal(key(ours), key(theirs), text);
};

test('timestamptz: ISO texts with 0 to 6 fraction digits and every offset form read as pg reads them', () => {
  for (const frac of ['', '.1', '.12', '.123', '.1234', '.12345', '.123456', '.999999', '.000001', '.5']) {
    for (const tz of ['+00', '-03', '+05:30', '-09:30', '+14', '-12', '+05:53:28', '-00:44:30']) {
      same(`2026-11-25 19:39:35${frac}${tz}`);
      same(`1970-01-01 00:00:00${frac}${tz}`);
      same(`2000-02-29 23:59:59${frac}${tz}`);
      same(`9999-12-31 23:59:59${frac}${tz}`);
    }
  }
});

test('timestamptz: random instants round-trip through the text PostgreSQL writes', () => {
  for (let i = 0; i < 5000; i++) {
    const ms = Math.floor(Math.random() * 8e12) - 1e12;
    const d = new Date(ms);
    const text = `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 23)}${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}+00`;
    same(text);
    assert.equal((parseTimestamptz(text) as Date).getTime(), ms);
  }
});

test('timestamptz: what the fast path does not read goes to pg\'s parser', () => {
  for (const text of ['infinity', '-infinity', '0099-01-01 00:00:00+00', '2026-11-25 19:39:35+00 BC', '12026-11-25 19:39:35+00', '2026-11-25 19:39:35', '2026-11-25T19:39:35Z', '2026-11-25 19:39:35+0', '2026-11-25 19:39:35+00:3', '2026-1x-25 19:39:35+00']) {
    same(text);
  }
});

test('timestamptz: it is the parser pg uses for OID 1184', () => {
  assert.equal(pg.types.getTypeParser(1184), parseTimestamptz);
});
