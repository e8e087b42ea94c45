import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { newId } from '../src/platform/ids';
import { createReferralTokens, loadReferralTokens } from '../src/contexts/social';

const key = (kid: string) => ({ kid, secret: randomBytes(32) });
const k1 = key('k1');
const k2 = key('k2');

function claims() {
  return {
    tagId: newId('tag'),
    postId: newId('post'),
    creatorId: newId('creator'),
    productId: newId('product'),
    tagCreatedAt: new Date('2026-01-15T12:34:56.789Z'),
  };
}

describe('referral tokens', () => {
  it('round-trips every claim and names the signing key', () => {
    const tokens = createReferralTokens([k1]);
    const c = claims();
    const token = tokens.sign(c);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    const v = tokens.verify(token);
    assert.deepEqual(v, { ok: true, claims: { ...c, kid: 'k1' } });
  });

  it('stays compact', () => {
    const token = createReferralTokens([k1]).sign(claims());
    assert.ok(token.length < 200, `token is ${token.length} characters`);
  });

  it('refuses a token with any single character or byte changed', () => {
    const tokens = createReferralTokens([k1]);
    const token = tokens.sign(claims());
    for (let i = 0; i < token.length; i++) {
      const other = token[i] === 'A' ? 'B' : 'A';
      const changed = token.slice(0, i) + other + token.slice(i + 1);
      assert.equal(tokens.verify(changed).ok, false, `character ${i} changed, still verified`);
    }
    const bytes = Buffer.from(token, 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const copy = Buffer.from(bytes);
      copy[i] = copy[i]! ^ 0x01;
      assert.equal(tokens.verify(copy.toString('base64url')).ok, false, `byte ${i} flipped, still verified`);
    }
  });

  it('answers bad_signature for a changed claim and unsupported_version for another version', () => {
    const tokens = createReferralTokens([k1]);
    const bytes = Buffer.from(tokens.sign(claims()), 'base64url');
    const claim = Buffer.from(bytes);
    claim[10] = claim[10]! ^ 0xff; // inside the tag id
    assert.deepEqual(tokens.verify(claim.toString('base64url')), { ok: false, reason: 'bad_signature' });
    const version = Buffer.from(bytes);
    version[0] = 2;
    assert.deepEqual(tokens.verify(version.toString('base64url')), { ok: false, reason: 'unsupported_version' });
  });

  it('answers malformed for empty, truncated and garbage tokens', () => {
    const tokens = createReferralTokens([k1]);
    const token = tokens.sign(claims());
    for (const bad of ['', 'x', token.slice(0, -4), token.slice(0, 20), `${token}AAAA`, 'not a token!', '%%%%', 'a'.repeat(5000)]) {
      assert.deepEqual(tokens.verify(bad), { ok: false, reason: 'malformed' }, JSON.stringify(bad.slice(0, 30)));
    }
  });

  it('answers unknown_key for a token signed by a key not in the ring', () => {
    const stranger = createReferralTokens([key('k9')]).sign(claims());
    assert.deepEqual(createReferralTokens([k1]).verify(stranger), { ok: false, reason: 'unknown_key' });
    // same kid, different secret: a forgery, not an unknown key
    const forged = createReferralTokens([key('k1')]).sign(claims());
    assert.deepEqual(createReferralTokens([k1]).verify(forged), { ok: false, reason: 'bad_signature' });
  });

  it('rotates: a new first key signs, old tokens stay valid while their key is listed', () => {
    const before = createReferralTokens([k1]);
    const old = before.sign(claims());
    const rotated = createReferralTokens([k2, k1]);
    const oldResult = rotated.verify(old);
    assert.equal(oldResult.ok && oldResult.claims.kid, 'k1');
    const fresh = rotated.sign(claims());
    const freshResult = rotated.verify(fresh);
    assert.equal(freshResult.ok && freshResult.claims.kid, 'k2');
    // k1 retired
    const retired = createReferralTokens([k2]);
    assert.deepEqual(retired.verify(old), { ok: false, reason: 'unknown_key' });
    assert.equal(retired.verify(fresh).ok, true);
  });

  it('refuses short secrets and an empty ring', () => {
    assert.throws(() => createReferralTokens([]));
    assert.throws(() => createReferralTokens([{ kid: 'k1', secret: randomBytes(16) }]));
  });

  it('loads REFERRAL_KEYS newest first', () => {
    const s1 = randomBytes(32).toString('base64url');
    const s2 = randomBytes(32).toString('base64url');
    const old = loadReferralTokens({ referralKeys: `k1:${s1}`, dataDir: '/nonexistent' }).sign(claims());
    const ring = loadReferralTokens({ referralKeys: `k2:${s2},k1:${s1}`, dataDir: '/nonexistent' });
    const v = ring.verify(old);
    assert.equal(v.ok && v.claims.kid, 'k1');
    const fresh = ring.verify(ring.sign(claims()));
    assert.equal(fresh.ok && fresh.claims.kid, 'k2');
    assert.throws(() => loadReferralTokens({ referralKeys: `k1:${randomBytes(8).toString('base64url')}`, dataDir: '/nonexistent' }));
  });

  it('generates a development key file once (mode 0600) and reuses it', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'feedshop-keys-'));
    try {
      const first = loadReferralTokens({ dataDir });
      const file = join(dataDir, 'keys', 'referral-keys.json');
      const content = readFileSync(file, 'utf8');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const token = first.sign(claims());
      const second = loadReferralTokens({ dataDir });
      assert.equal(readFileSync(file, 'utf8'), content, 'the key file was rewritten');
      assert.equal(second.verify(token).ok, true);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
