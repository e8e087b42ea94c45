import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  attributeLine,
  creditsFor,
  eligibleTouches,
  largestRemainder,
  MODELS,
  reversalShares,
  UNIT_SCALE,
  type LineFactsForModels,
  type ModelTouch,
  type TagState,
} from '../src/contexts/attribution/attribution.models';
import type { AttributionModel } from '../src/contexts/attribution';

const H = 3_600_000;
const D = 24 * H;
const T = new Date('2026-03-10T12:00:00Z');
const PRODUCT = 'prd_P';
const BUYER = 'acc_buyer';

let seq = 0;
/** A touch `ago` ms before T on tag `tag` (post and creator follow the tag's name). */
function touch(tag: string, kind: ModelTouch['kind'], ago: number, extra: Partial<ModelTouch> = {}): ModelTouch {
  seq++;
  return {
    id: `tch_${String(seq).padStart(6, '0')}`,
    kind,
    tagId: `tag_${tag}`,
    postId: `pst_${tag}`,
    creatorId: `cre_${tag}`,
    productId: PRODUCT,
    deviceId: 'dev_1',
    occurredAt: new Date(T.getTime() - ago),
    bot: false,
    flooded: false,
    ...extra,
  };
}

const active: TagState = { active: true, deactivatedAt: null };
function line(touches: readonly ModelTouch[], over: Partial<LineFactsForModels> = {}): LineFactsForModels {
  return {
    productId: PRODUCT,
    orderedAt: T,
    netAmountMinor: 1000,
    quantity: 1,
    buyerAccountId: BUYER,
    creatorAccounts: new Map(touches.map((t) => [t.creatorId, `acc_of_${t.creatorId}`])),
    tagStates: new Map(touches.map((t) => [t.tagId, active])),
    windows: { clickWindowDays: 7, viewWindowHours: 24 },
    ...over,
  };
}

/** model → tag letter → amount, for compact hand-computed expectations. */
function split(touches: readonly ModelTouch[], over: Partial<LineFactsForModels> = {}): Record<string, Record<string, number>> {
  const r = attributeLine(touches, line(touches, over));
  const out: Record<string, Record<string, number>> = {};
  for (const c of r.credits) (out[c.model] ??= {})[c.tagId.replace('tag_', '')] = c.amountMinor;
  return out;
}

const everyModel = (tags: Record<string, number>) => Object.fromEntries(MODELS.map((m) => [m, tags]));

describe('attribution models', () => {
  it('a single tap gets everything under every model', () => {
    assert.deepEqual(split([touch('A', 'tap', D)]), everyModel({ A: 1000 }));
  });

  it('two posts tapped: last and first click pick one, the split models share by their rule to the cent', () => {
    const a = touch('A', 'tap', 3 * D);
    const b = touch('B', 'tap', 1 * D);
    assert.deepEqual(split([a, b], { netAmountMinor: 1001 }), {
      last_click: { B: 1001 },
      first_click: { A: 1001 },
      // 500.5 each: the tie goes to the later touch
      linear: { A: 500, B: 501 },
      // 2^(-3/7) : 2^(-1/7) → 451.10 : 549.90 → B takes the remainder
      time_decay: { A: 451, B: 550 },
      position: { A: 500, B: 501 },
    });
  });

  it('the week-later case: an impression in post A, a tap in post B, bought 6 days later', () => {
    const sawA = touch('A', 'impression', 6 * D + H);
    const tapB = touch('B', 'tap', 6 * D);
    // default windows: the impression is outside the 24 h view window, so B gets all of it under every model
    assert.deepEqual(split([sawA, tapB], { netAmountMinor: 1999 }), everyModel({ B: 1999 }));
    const r = eligibleTouches([sawA, tapB], line([sawA, tapB]));
    assert.deepEqual(r.excluded.map((x) => [x.touch.tagId, x.reason]), [['tag_A', 'outside_window']]);

    // with a 7-day view window the impression is eligible: click models still pay B (a click beats an impression)
    assert.deepEqual(split([sawA, tapB], { netAmountMinor: 1999, windows: { clickWindowDays: 7, viewWindowHours: 7 * 24 } }), {
      last_click: { B: 1999 },
      first_click: { B: 1999 },
      linear: { A: 999, B: 1000 },
      // 2^(-145/168) : 2^(-144/168) → 997.44 : 1001.56
      time_decay: { A: 997, B: 1002 },
      position: { A: 999, B: 1000 },
    });
  });

  it('three touches: position-based gives 40/20/40, linear a third each with the odd cent to the latest', () => {
    const a = touch('A', 'tap', 5 * D);
    const c = touch('C', 'tap', 1 * D);
    const b = touch('B', 'impression', 2 * H);
    const s = split([a, c, b]);
    assert.deepEqual(s.position, { A: 400, C: 200, B: 400 });
    assert.deepEqual(s.linear, { A: 333, C: 333, B: 334 });
    assert.deepEqual(s.last_click, { C: 1000 }, 'the impression is later, but a click wins');
    assert.deepEqual(s.first_click, { A: 1000 });
    // four touches: the middle two share 20 %
    const d = touch('D', 'tap', 3 * D);
    assert.deepEqual(split([a, d, c, b]).position, { A: 400, D: 100, C: 100, B: 400 });
  });

  it('ties in time go to the later touch id for last click, the earlier for first click', () => {
    const x = touch('X', 'tap', H);
    const y = touch('Y', 'tap', H); // same second, later id
    const s = split([y, x]);
    assert.deepEqual(s.last_click, { Y: 1000 });
    assert.deepEqual(s.first_click, { X: 1000 });
    assert.deepEqual(s.linear, { X: 500, Y: 500 });
    assert.deepEqual(split([x, y], { netAmountMinor: 1 }).linear, { X: 0, Y: 1 }, 'the odd cent goes to the later touch');
  });

  it('impressions only: credited when there is no click, inside the 24 h view window only', () => {
    assert.deepEqual(split([touch('A', 'impression', 2 * H)]), everyModel({ A: 1000 }));
    assert.deepEqual(split([touch('A', 'impression', 25 * H)]), {});
    // a product view carrying a token is a click
    assert.deepEqual(split([touch('A', 'impression', 2 * H), touch('B', 'view', 3 * D)]).last_click, { B: 1000 });
  });

  it('the click window is inclusive at exactly 7 days and touches after T never count', () => {
    assert.deepEqual(split([touch('A', 'tap', 7 * D)]), everyModel({ A: 1000 }));
    assert.deepEqual(split([touch('A', 'tap', 7 * D + 1000)]), {});
    assert.deepEqual(split([touch('A', 'tap', -1000)]), {});
    assert.deepEqual(split([touch('A', 'tap', 0)]), everyModel({ A: 1000 }), 'the same second as the order counts');
  });

  it('never credits self-referral, bots, floods, inactive tags or expired tokens, and says why', () => {
    const own = touch('OWN', 'tap', H);
    const bot = touch('BOT', 'tap', H, { bot: true });
    const flood = touch('FLOOD', 'tap', H, { flooded: true });
    const inactive = touch('OFF', 'tap', 3 * H);
    const expired = touch('EXP', 'tap', 3 * H);
    const unknown = touch('GONE', 'tap', 3 * H);
    const later = touch('LATER', 'tap', 5 * H); // deactivated after T: still credited
    const touches = [own, bot, flood, inactive, expired, unknown, later];
    const facts = line(touches, {
      creatorAccounts: new Map([[own.creatorId, BUYER]]),
      tagStates: new Map([
        [own.tagId, active],
        [bot.tagId, active],
        [flood.tagId, active],
        [inactive.tagId, { active: false, deactivatedAt: new Date(T.getTime() - H) }],
        [expired.tagId, { active: false, deactivatedAt: new Date(T.getTime() - 4 * H) }],
        [later.tagId, { active: false, deactivatedAt: new Date(T.getTime() + H) }],
      ]),
    });
    const r = attributeLine(touches, facts);
    assert.deepEqual(
      Object.fromEntries(r.excluded.map((x) => [x.touch.tagId.replace('tag_', ''), x.reason])),
      { OWN: 'self_referral', BOT: 'bot', FLOOD: 'flood', OFF: 'inactive_tag', EXP: 'expired_token', GONE: 'expired_token' },
    );
    assert.deepEqual(r.eligible.map((x) => x.tagId), [later.tagId]);
    assert.ok(r.credits.every((c) => c.tagId === later.tagId && c.amountMinor === 1000));
    // an anonymous buyer cannot self-refer
    assert.equal(eligibleTouches([own], line([own], { buyerAccountId: null, creatorAccounts: new Map([[own.creatorId, BUYER]]) })).eligible.length, 1);
  });

  it('collapses repeats on one tag within an hour to the first, clicks and impressions apart', () => {
    const first = touch('A', 'tap', 3 * H);
    const repeat = touch('A', 'tap', 2.5 * H);
    const again = touch('A', 'tap', 1.9 * H); // an hour after the kept one
    const imp = touch('A', 'impression', 2.9 * H);
    const r = eligibleTouches([first, repeat, again, imp], line([first]));
    assert.deepEqual(r.eligible.map((x) => x.id), [first.id, imp.id, again.id]);
    assert.deepEqual(r.excluded.map((x) => [x.touch.id, x.reason]), [[repeat.id, 'repeat']]);
  });

  it('merges several touches on one tag into one credit per model', () => {
    const a1 = touch('A', 'tap', 3 * D);
    const b = touch('B', 'tap', 2 * D);
    const a2 = touch('A', 'tap', 1 * D);
    const s = split([a1, b, a2], { netAmountMinor: 300 });
    assert.deepEqual(s.linear, { A: 200, B: 100 });
    assert.deepEqual(s.position, { A: 240, B: 60 });
    const linear = creditsFor('linear', [a1, b, a2], line([a1, b, a2], { quantity: 3 }));
    assert.deepEqual(linear.map((c) => [c.tagId, c.unitsScaled, Number(c.weight.toFixed(4))]), [
      ['tag_A', 2 * UNIT_SCALE, 0.6667],
      ['tag_B', 1 * UNIT_SCALE, 0.3333],
    ]);
  });

  it('cents and units always sum exactly to the line, for random amounts and journeys', () => {
    let rnd = 42;
    const next = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 500; i++) {
      const n = 1 + Math.floor(next() * 8);
      const touches = Array.from({ length: n }, () =>
        touch(String.fromCharCode(65 + Math.floor(next() * 4)), (['tap', 'view', 'impression'] as const)[Math.floor(next() * 3)]!, Math.floor(next() * 20 * H)),
      );
      const amount = Math.floor(next() * 1_000_000);
      const quantity = 1 + Math.floor(next() * 7);
      const r = attributeLine(touches, line(touches, { netAmountMinor: amount, quantity }));
      if (r.eligible.length === 0) continue;
      for (const m of MODELS) {
        const cs = r.credits.filter((c) => c.model === (m as AttributionModel));
        assert.equal(cs.reduce((s, c) => s + c.amountMinor, 0), amount, `${m} cents, case ${i}`);
        assert.equal(cs.reduce((s, c) => s + c.unitsScaled, 0), quantity * UNIT_SCALE, `${m} units, case ${i}`);
        assert.ok(Math.abs(cs.reduce((s, c) => s + c.weight, 0) - 1) < 1e-9, `${m} weights, case ${i}`);
        assert.ok(cs.every((c) => c.amountMinor >= 0));
        assert.equal(new Set(cs.map((c) => c.tagId)).size, cs.length, 'one credit per tag');
      }
    }
  });

  it('largest remainder: exact sums, deterministic ties, zero weights get nothing', () => {
    assert.deepEqual(largestRemainder(100, [1, 1, 1]), [34, 33, 33]);
    assert.deepEqual(largestRemainder(100, [1, 1, 1], [2, 1, 0]), [33, 33, 34]);
    assert.deepEqual(largestRemainder(5, [0, 1, 0]), [0, 5, 0]);
    assert.deepEqual(largestRemainder(0, [0.3, 0.7]), [0, 0]);
    assert.deepEqual(largestRemainder(7, []), []);
    assert.deepEqual(largestRemainder(10, [0.1, 0.2, 0.7]), [1, 2, 7]);
  });

  it('reversals are pro rata, never exceed what remains, and reversing everything ends at zero', () => {
    const credits = [333, 333, 334];
    const first = reversalShares(credits, 500);
    assert.equal(first.reduce((s, x) => s + x, 0), 500);
    const left = credits.map((c, i) => c - first[i]!);
    assert.ok(left.every((x) => x >= 0));
    const second = reversalShares(left, 10_000);
    assert.deepEqual(second, left, 'more than remains takes exactly what remains');
    assert.deepEqual(reversalShares([0, 0], 5), [0, 0]);
    // a refund unit by unit of a 3-unit line walks every credit down to exactly 0
    let remaining = [1000, 1];
    for (const part of [334, 333, 334]) {
      const s = reversalShares(remaining, part);
      remaining = remaining.map((r, i) => r - s[i]!);
      assert.ok(remaining.every((x) => x >= 0));
    }
    assert.deepEqual(remaining, [0, 0]);
  });
});
