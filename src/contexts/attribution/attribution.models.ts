// The attribution models (design.md §7) as pure functions: no clock, no database, so every rule is unit-tested on
// hand-computed journeys. The service gathers the facts (touches, tag states, creator accounts, flooded minutes) and
// persists what these functions return. docs/attribution.md states the definitions as implemented here.
import type { AttributionModel } from './attribution.events';

/** Bumped when a model's definition changes; every credit row records the version it was computed under. */
export const MODEL_VERSION = 1;
export const MODELS: readonly AttributionModel[] = ['last_click', 'first_click', 'linear', 'time_decay', 'position'];
/** Units are kept in ten-thousandths so a unit split over several tags still sums exactly to the quantity. */
export const UNIT_SCALE = 10_000;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Time-decay half-life. */
export const HALF_LIFE_MS = 7 * DAY;
/** Repeats on one (shopper, tag) closer than this to the first are one touch. */
export const REPEAT_COLLAPSE_MS = HOUR;

export type TouchKindForModels = 'tap' | 'view' | 'impression';

export interface ModelTouch {
  id: string;
  kind: TouchKindForModels;
  tagId: string;
  postId: string;
  creatorId: string;
  productId: string;
  deviceId: string;
  occurredAt: Date;
  bot: boolean;
  /** The device recorded more touches than the flood limit in the minute of this touch. */
  flooded: boolean;
}

export interface Windows {
  clickWindowDays: number;
  viewWindowHours: number;
}

export interface TagState {
  active: boolean;
  deactivatedAt: Date | null;
}

export interface LineFactsForModels {
  productId: string;
  /** T: when the order was placed (paid). */
  orderedAt: Date;
  netAmountMinor: number;
  quantity: number;
  buyerAccountId: string | null;
  /** creatorId → the creator's account (self-referral). */
  creatorAccounts: ReadonlyMap<string, string>;
  /** tagId → state; a tag social does not know is treated as inactive. */
  tagStates: ReadonlyMap<string, TagState>;
  windows: Windows;
}

/** Why an otherwise relevant touch is not credited. The first five are fraud guards, counted for admins. */
export type ExclusionReason = 'self_referral' | 'bot' | 'flood' | 'expired_token' | 'inactive_tag' | 'outside_window' | 'repeat';
export const FRAUD_REASONS = ['self_referral', 'bot', 'flood', 'expired_token', 'inactive_tag'] as const satisfies readonly ExclusionReason[];

export const isClick = (t: Pick<ModelTouch, 'kind'>) => t.kind !== 'impression';

/** Oldest first; equal times by id, so every later "ties by later touch id" rule is a plain comparison. */
export function byTime(a: Pick<ModelTouch, 'occurredAt' | 'id'>, b: Pick<ModelTouch, 'occurredAt' | 'id'>): number {
  return a.occurredAt.getTime() - b.occurredAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The eligible touches of a line, oldest first, and why each other touch on the product was left out. Touches on
 * other products and touches after T are simply not relevant (not listed). Order of the checks: window, then the
 * fraud guards, then repeats, so a repeat is only collapsed into a touch that is itself credited.
 */
export function eligibleTouches(
  touches: readonly ModelTouch[],
  line: LineFactsForModels,
): { eligible: ModelTouch[]; excluded: Array<{ touch: ModelTouch; reason: ExclusionReason }> } {
  const T = line.orderedAt.getTime();
  const clickWindow = line.windows.clickWindowDays * DAY;
  const viewWindow = line.windows.viewWindowHours * HOUR;
  const excluded: Array<{ touch: ModelTouch; reason: ExclusionReason }> = [];
  const survivors: ModelTouch[] = [];
  for (const touch of [...touches].sort(byTime)) {
    const t = touch.occurredAt.getTime();
    if (touch.productId !== line.productId || t > T) continue;
    const reason = exclusionOf(touch, T - t <= (isClick(touch) ? clickWindow : viewWindow), line);
    if (reason) excluded.push({ touch, reason });
    else survivors.push(touch);
  }
  // repeats: per tag and per class (clicks with clicks, impressions with impressions), so a tap right after the
  // impression it came from is not swallowed by it
  const lastKept = new Map<string, number>();
  const eligible: ModelTouch[] = [];
  for (const touch of survivors) {
    const key = `${touch.tagId}:${isClick(touch) ? 'click' : 'impression'}`;
    const prev = lastKept.get(key);
    if (prev !== undefined && touch.occurredAt.getTime() - prev < REPEAT_COLLAPSE_MS) {
      excluded.push({ touch, reason: 'repeat' });
      continue;
    }
    lastKept.set(key, touch.occurredAt.getTime());
    eligible.push(touch);
  }
  return { eligible, excluded };
}

function exclusionOf(touch: ModelTouch, inWindow: boolean, line: LineFactsForModels): ExclusionReason | null {
  if (!inWindow) return 'outside_window';
  if (touch.bot) return 'bot';
  if (touch.flooded) return 'flood';
  const state = line.tagStates.get(touch.tagId);
  const deactivated = state ? (state.deactivatedAt?.getTime() ?? (state.active ? null : -Infinity)) : -Infinity;
  if (deactivated !== null && deactivated <= touch.occurredAt.getTime()) return 'expired_token';
  if (deactivated !== null && deactivated <= line.orderedAt.getTime()) return 'inactive_tag';
  if (line.buyerAccountId !== null && line.creatorAccounts.get(touch.creatorId) === line.buyerAccountId) return 'self_referral';
  return null;
}

/** Each eligible touch's weight under `model` (weights sum to 1; empty when nothing is eligible). */
export function touchWeights(model: AttributionModel, eligible: readonly ModelTouch[], orderedAt: Date): Array<{ touch: ModelTouch; weight: number }> {
  const sorted = [...eligible].sort(byTime);
  const n = sorted.length;
  if (n === 0) return [];
  const clicks = sorted.filter(isClick);
  const pool = clicks.length > 0 ? clicks : sorted; // impressions count only when there is no click
  switch (model) {
    case 'last_click':
      return [{ touch: pool[pool.length - 1]!, weight: 1 }];
    case 'first_click':
      return [{ touch: pool[0]!, weight: 1 }];
    case 'linear':
      return sorted.map((touch) => ({ touch, weight: 1 / n }));
    case 'time_decay': {
      const raw = sorted.map((touch) => 2 ** (-(orderedAt.getTime() - touch.occurredAt.getTime()) / HALF_LIFE_MS));
      const sum = raw.reduce((s, x) => s + x, 0);
      return sorted.map((touch, i) => ({ touch, weight: raw[i]! / sum }));
    }
    case 'position':
      if (n === 1) return [{ touch: sorted[0]!, weight: 1 }];
      if (n === 2) return sorted.map((touch) => ({ touch, weight: 0.5 }));
      return sorted.map((touch, i) => ({ touch, weight: i === 0 || i === n - 1 ? 0.4 : 0.2 / (n - 2) }));
  }
}

const EPS = 1e-9;

/**
 * Splits `total` (a non-negative integer) in proportion to `weights` with the largest-remainder rule: the parts are
 * integers summing to exactly `total`. Equal remainders go to the lower `tieRank` first (the caller ranks later
 * touches first). Zero weights get zero.
 */
export function largestRemainder(total: number, weights: readonly number[], tieRank: readonly number[] = weights.map((_, i) => i)): number[] {
  const sum = weights.reduce((s, w) => s + w, 0);
  if (weights.length === 0 || sum <= 0) return weights.map(() => 0);
  const raw = weights.map((w) => (total * w) / sum);
  const parts = raw.map((r) => Math.floor(r + EPS));
  const rem = raw.map((r, i) => r - parts[i]!);
  let left = total - parts.reduce((s, p) => s + p, 0);
  const order = weights
    .map((_, i) => i)
    .filter((i) => weights[i]! > 0)
    .sort((a, b) => (Math.abs(rem[b]! - rem[a]!) > EPS ? rem[b]! - rem[a]! : tieRank[a]! - tieRank[b]!));
  // float noise can overshoot by a unit: take it back from the smallest remainders
  for (let k = order.length - 1; left < 0 && k >= 0; k--) if (parts[order[k]!]! > 0) (parts[order[k]!]! -= 1), left++;
  for (let k = 0; left > 0; k = (k + 1) % order.length) (parts[order[k]!]! += 1), left--;
  return parts;
}

export interface ModelCredit {
  model: AttributionModel;
  tagId: string;
  postId: string;
  creatorId: string;
  weight: number;
  amountMinor: number;
  /** Units × UNIT_SCALE. */
  unitsScaled: number;
}

/** One credit per tag under `model`: the tag's touches merged, money and units split by largest remainder. */
export function creditsFor(model: AttributionModel, eligible: readonly ModelTouch[], line: Pick<LineFactsForModels, 'orderedAt' | 'netAmountMinor' | 'quantity'>): ModelCredit[] {
  const perTag = new Map<string, { touch: ModelTouch; weight: number }>();
  for (const { touch, weight } of touchWeights(model, eligible, line.orderedAt)) {
    const seen = perTag.get(touch.tagId);
    // the tag is represented by its latest touch, which also ranks it in ties
    if (!seen) perTag.set(touch.tagId, { touch, weight });
    else perTag.set(touch.tagId, { touch: byTime(seen.touch, touch) < 0 ? touch : seen.touch, weight: seen.weight + weight });
  }
  const tags = [...perTag.values()];
  const rank = rankLaterFirst(tags.map((x) => x.touch));
  const amounts = largestRemainder(line.netAmountMinor, tags.map((x) => x.weight), rank);
  const units = largestRemainder(line.quantity * UNIT_SCALE, tags.map((x) => x.weight), rank);
  return tags.map((x, i) => ({
    model,
    tagId: x.touch.tagId,
    postId: x.touch.postId,
    creatorId: x.touch.creatorId,
    weight: x.weight,
    amountMinor: amounts[i]!,
    unitsScaled: units[i]!,
  }));
}

/** Rank 0 for the latest touch: ties in a split go to the later touch first. */
function rankLaterFirst(touches: readonly ModelTouch[]): number[] {
  const order = touches.map((_, i) => i).sort((a, b) => byTime(touches[b]!, touches[a]!));
  const rank = new Array<number>(touches.length);
  order.forEach((idx, r) => (rank[idx] = r));
  return rank;
}

export interface LineAttribution {
  eligible: ModelTouch[];
  excluded: Array<{ touch: ModelTouch; reason: ExclusionReason }>;
  credits: ModelCredit[];
}

/** Every model's credits for one line. */
export function attributeLine(touches: readonly ModelTouch[], line: LineFactsForModels): LineAttribution {
  const { eligible, excluded } = eligibleTouches(touches, line);
  return { eligible, excluded, credits: MODELS.flatMap((m) => creditsFor(m, eligible, line)) };
}

/** Counts of fraud-guard exclusions by reason (what admins see); windows and repeats are not fraud. */
export function fraudCounts(excluded: LineAttribution['excluded']): Partial<Record<ExclusionReason, number>> {
  const out: Partial<Record<ExclusionReason, number>> = {};
  for (const { reason } of excluded) if ((FRAUD_REASONS as readonly string[]).includes(reason)) out[reason] = (out[reason] ?? 0) + 1;
  return out;
}

/**
 * How much of each credit a refund takes back: `delta` (of the line's amount or scaled units) is split over what
 * remains of each credit, by largest remainder, so cumulative reversals never exceed a credit and reversing all
 * that remains brings every credit to exactly 0.
 */
export function reversalShares(remaining: readonly number[], delta: number): number[] {
  const total = remaining.reduce((s, r) => s + r, 0);
  const take = Math.max(0, Math.min(delta, total));
  if (take === total) return [...remaining];
  const parts = largestRemainder(take, remaining);
  return parts.map((p, i) => Math.min(p, remaining[i]!));
}
