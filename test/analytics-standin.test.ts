import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { startClickHouseStandIn, type ClickHouseStandIn } from './support/clickhouse-standin';

// The stand-in must answer the way ClickHouse's HTTP interface does, or the server adapter's tests prove nothing.
describe('clickhouse stand-in (HTTP interface)', () => {
  let dir: string;
  let ch: ClickHouseStandIn;
  let client: ClickHouseClient;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'feedshop-ch-standin-'));
    ch = await startClickHouseStandIn(dir);
    client = createClient({ url: ch.url, log: { level: ClickHouseLogLevel.OFF } });
  });
  after(async () => {
    await client.close();
    await ch.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs commands, inserts and parameterised queries from the official client, with its headers', async () => {
    await client.command({ query: 'CREATE DATABASE IF NOT EXISTS s1' });
    await client.command({ query: 'CREATE TABLE IF NOT EXISTS s1.t (id UInt32, name String) ENGINE = MergeTree ORDER BY id' });
    const ins = await client.insert({ table: 's1.t', values: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }], format: 'JSONEachRow' });
    assert.equal(ins.summary?.written_rows, '2');
    const rs = await client.query({ query: 'SELECT id, name FROM s1.t WHERE id > {min:UInt32} ORDER BY id', query_params: { min: 1 }, format: 'JSONEachRow' });
    assert.equal(rs.response_headers['x-clickhouse-format'], 'JSONEachRow');
    assert.ok(rs.query_id);
    assert.deepEqual(await rs.json(), [{ id: 2, name: 'b' }]);
    // the connection's database is `default`: an unqualified name is looked up there
    await assert.rejects(client.query({ query: 'SELECT count() AS n FROM t', format: 'JSON' }), (e: Error & { type?: string }) => e.type === 'UNKNOWN_TABLE');
  });

  it('answers errors with ClickHouse’s status, exception code header and body', async () => {
    const res = await fetch(`${ch.url}/?query=${encodeURIComponent('SELECT * FROM nowhere.t')}`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('x-clickhouse-exception-code'), '81');
    assert.match(await res.text(), /^Code: 81\. DB::Exception: .*\(UNKNOWN_DATABASE\) \(version [\d.]+\)\n$/s);
    const syntax = await fetch(ch.url, { method: 'POST', body: 'SELEC 1' });
    assert.equal(syntax.status, 400);
    assert.equal(syntax.headers.get('x-clickhouse-exception-code'), '62');
    const readonly = await fetch(`${ch.url}/?query=${encodeURIComponent('CREATE DATABASE nope')}`);
    assert.equal(readonly.status, 403);
    assert.match(await readonly.text(), /\(READONLY\)/);
    await assert.rejects(client.query({ query: 'SELECT * FROM nowhere.t' }), (e: Error & { code?: string; type?: string }) => e.code === '81' && e.type === 'UNKNOWN_DATABASE');
  });

  it('takes the query from the URL or the body, the format from default_format, and gzips when asked', async () => {
    const get = await fetch(`${ch.url}/?query=${encodeURIComponent('SELECT 1 AS x')}&default_format=JSONEachRow`);
    assert.equal(await get.text(), '{"x":1}\n');
    assert.ok(JSON.parse(get.headers.get('x-clickhouse-summary')!).read_rows !== undefined);
    const zipped = await fetch(`${ch.url}/?enable_http_compression=1&param_v=41`, { method: 'POST', body: 'SELECT {v:UInt8} + 1 AS y FORMAT JSONEachRow', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    // fetch undoes the gzip transparently
    assert.equal(await zipped.text(), '{"y":42}\n');
    const ping = await fetch(`${ch.url}/ping`);
    assert.equal(await ping.text(), 'Ok.\n');
  });
});
