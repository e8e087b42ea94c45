import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import '../src/app';
import { knownErrorCodes, statusForCode } from '../src/platform/errors';
import { ApiError, messageFor } from '../web/src/api';

/**
 * Codes a person using the web app never meets: other services' (webhooks, providers, connect events), protocol
 * errors the app cannot cause, and conflicts it handles itself. Every other code has its own sentence in the app.
 */
const NOT_FOR_PEOPLE = new Set([
  'amount_exceeds_captured', 'bad_request', 'conflict', 'connect_webhooks_disabled', 'device_id_required', 'headers_too_large',
  'invalid_cursor', 'invalid_signature', 'malformed_json', 'not_capturable', 'not_held', 'not_refundable', 'not_voidable',
  'precondition_failed', 'provider_timeout', 'provider_unavailable', 'range_not_satisfiable', 'unavailable', 'unknown_provider',
]);
/** Codes whose server sentence is already written for a person and says more than a fixed one could (how many posts show a file). */
const SERVER_WORDED = new Set(['media_in_use']);

describe('web app: every error code a person can meet is said in words', () => {
  it('messageFor has its own sentence for each, not the server’s message', () => {
    const codes = knownErrorCodes();
    assert.ok(codes.length > 50, `the contexts registered their codes (${codes.length})`);
    const missing = codes.filter((code) => !NOT_FOR_PEOPLE.has(code) && !SERVER_WORDED.has(code) && messageFor(new ApiError(statusForCode(code), code, `server: ${code}`)) === `server: ${code}`);
    // was: cannot_follow_self, too_many_tags, unknown_product, payout_account_restricted… shown as the API's text
    assert.deepEqual(missing, []);
    assert.deepEqual([...NOT_FOR_PEOPLE, ...SERVER_WORDED].filter((c) => !codes.includes(c)), [], 'the exceptions are real codes');
    // and those keep the server's sentence (the media list shows "…shown by 2 posts or stories…")
    for (const code of SERVER_WORDED) assert.equal(messageFor(new ApiError(409, code, 'server words')), 'server words', code);
  });
});
