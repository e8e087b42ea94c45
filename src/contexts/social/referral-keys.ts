import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createReferralTokens, MIN_SECRET_BYTES, type ReferralKey, type ReferralTokens } from './referral-token';

/** "kid:base64url-secret,kid2:…" (newest, signing key first) → the key ring's keys. */
export function parseReferralKeys(spec: string): ReferralKey[] {
  return spec
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const colon = part.indexOf(':');
      if (colon <= 0) throw new Error('REFERRAL_KEYS: each key is "kid:base64url-secret"');
      const kid = part.slice(0, colon);
      const secret = Buffer.from(part.slice(colon + 1), 'base64url');
      if (secret.length < MIN_SECRET_BYTES) throw new Error(`REFERRAL_KEYS: key ${kid} must be at least ${MIN_SECRET_BYTES} bytes`);
      return { kid, secret };
    });
}

interface KeyFile {
  keys: Array<{ kid: string; secret: string }>;
}

/**
 * Development keys: generated once into `${dataDir}/keys/referral-keys.json` (mode 0600) and reused after, so
 * tokens stay valid across restarts. dataDir is gitignored; production sets REFERRAL_KEYS instead.
 */
function loadDevelopmentKeys(dataDir: string): ReferralKey[] {
  const dir = join(dataDir, 'keys');
  const file = join(dir, 'referral-keys.json');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const content: KeyFile = { keys: [{ kid: `dev${Date.now().toString(36)}`, secret: randomBytes(32).toString('base64url') }] };
  // written whole under a private name, then linked into place: link() fails when the file exists, so two processes
  // starting together agree on one key, and neither can ever read a half-written file
  const staged = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(staged, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  try {
    linkSync(staged, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    rmSync(staged, { force: true });
  }
  const stored = JSON.parse(readFileSync(file, 'utf8')) as KeyFile;
  return stored.keys.map((k) => ({ kid: k.kid, secret: Buffer.from(k.secret, 'base64url') }));
}

/** Builds the key ring from REFERRAL_KEYS, or from development keys generated under dataDir on first start. */
export function loadReferralTokens(config: { referralKeys?: string | undefined; dataDir: string }): ReferralTokens {
  const keys = config.referralKeys ? parseReferralKeys(config.referralKeys) : loadDevelopmentKeys(config.dataDir);
  return createReferralTokens(keys);
}
