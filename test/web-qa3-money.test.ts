import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatMoney } from '../web/src/api';

/** formatMoney (web/src/api.ts) reads minor units by the currency's own digits, not always as cents. */
describe('web app: formatMoney', () => {
  it('uses two decimals for cents currencies', () => {
    assert.equal(formatMoney(1234, 'USD'), '$12.34');
    assert.equal(formatMoney(5, 'EUR'), '€0.05');
    assert.equal(formatMoney(-250, 'USD'), '-$2.50');
  });

  it('uses the currency’s own minor-unit digits (was: every amount divided by 100)', () => {
    assert.equal(formatMoney(500, 'JPY'), '¥500');
    // Intl puts a no-break space after a currency code
    assert.equal(formatMoney(1234, 'KWD').replace(/\s/g, ' '), 'KWD 1.234');
    assert.equal(formatMoney(1_000_000, 'KRW'), '₩1,000,000');
  });

  it('shows a code Intl refuses with two decimals and the code', () => {
    assert.equal(formatMoney(1234, 'not a currency'), '12.34 not a currency');
  });
});
