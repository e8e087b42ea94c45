/** Time is injected wherever it matters (expiry, windows, holds) so tests can move it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  #t: number;
  constructor(start: Date | string = '2026-01-15T12:00:00Z') {
    this.#t = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#t);
  }
  set(t: Date | string): void {
    this.#t = new Date(t).getTime();
  }
  advance(ms: number): void {
    this.#t += ms;
  }
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
