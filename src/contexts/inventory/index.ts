// Public surface of the inventory context. CONTRACT: other contexts rely on these signatures.
import type { ContextDeps, ContextModule } from '../../platform/context';
import { inventoryMigrations } from './inventory.migrations';
import { createInventoryService } from './inventory.service';

export { MAX_ON_HAND } from './inventory.errors';
export type Availability = 'in_stock' | 'low' | 'sold_out';

export interface StockLevel {
  skuId: string;
  onHand: number;
  reserved: number;
  available: number;
  availability: Availability;
}

export interface StockActor {
  accountId: string;
  reason: string;
}

export type StockChangeResult = { ok: true; level: StockLevel } | { ok: false; code: 'insufficient_stock' | 'stock_limit_exceeded'; level: StockLevel };

export interface ReservationLine {
  skuId: string;
  quantity: number;
}

export type ReserveResult =
  | { ok: true; holderId: string; expiresAt: Date }
  | { ok: false; code: 'sold_out' | 'insufficient_stock'; skuId: string; available: number };

/** A holder's reservation as it stands (`none` when it never held anything). */
export interface Hold {
  holderId: string;
  status: 'held' | 'committed' | 'released' | 'expired' | 'none';
  expiresAt: Date | null;
  lines: ReservationLine[];
}

/** Per SKU, the figures that must balance: journaled = onHand + sold, held = reserved. */
export interface StockAudit {
  skuId: string;
  onHand: number;
  reserved: number;
  sold: number;
  /** Sum over the adjustment journal of (delta + sold_delta): units taken in, net of write-offs. */
  journaled: number;
  /** Sum of the quantities of held reservations. */
  held: number;
}

export interface InventoryService {
  // ---- reservations (checkout) — CONTRACT for the checkout and orders contexts
  /**
   * Holds every line for `holderId` (a checkout id) or nothing (all-or-nothing across lines). Idempotent per holder:
   * a retry returns the existing hold. Concurrent requests on one SKU are coalesced per process into one statement and
   * granted in arrival order; a sold-out SKU is answered from memory until stock returns. Expires after ttlMs
   * (default config.reservationTtlMinutes).
   */
  reserve(holderId: string, lines: readonly ReservationLine[], opts?: { ttlMs?: number }): Promise<ReserveResult>;
  /** Turns the holder's held units into sold units (on hand and reserved both drop). Idempotent; an expired or released hold answers not_held. */
  commitReservation(holderId: string): Promise<{ ok: true } | { ok: false; code: 'not_held' }>;
  /** Returns the holder's held units to availability. Idempotent; committed units are not touched. */
  releaseReservation(holderId: string): Promise<void>;
  /** Puts sold units back (an order line cancelled or returned before it left); idempotent per key. */
  restock(skuId: string, quantity: number, key: string, actor: StockActor): Promise<void>;
  /** Releases every hold past its expiry (the sweeper); returns how many holds it released. */
  expireReservations(): Promise<number>;
  /** The holder's hold as it stands (checkout recovery reads it to decide between finishing and rolling back). */
  getHold(holderId: string): Promise<Hold>;
  /** Conservation figures per stocked SKU (tests and operators check that nothing leaked). */
  auditStock(skuIds: readonly string[]): Promise<StockAudit[]>;

  // ---- stock levels
  /** Stock for many SKUs in one query; SKUs never stocked read as zero (sold out). */
  getStockLevels(skuIds: readonly string[]): Promise<Map<string, StockLevel>>;
  /** Sets on-hand to an absolute count (recorded as an adjustment with who and why). */
  setOnHand(skuId: string, onHand: number, actor: StockActor): Promise<StockLevel>;
  /** Like setOnHand, but refusing (as a value, nothing changed) a count below what is reserved. */
  trySetOnHand(skuId: string, onHand: number, actor: StockActor): Promise<StockChangeResult>;
  /** Adds (or removes, when negative) units; refuses to go below what is reserved. */
  adjust(skuId: string, delta: number, actor: StockActor): Promise<StockChangeResult>;
  /** Initial stock for many SKUs in a fixed number of statements (bulk import/seed). */
  setOnHandMany(entries: ReadonlyArray<{ skuId: string; onHand: number }>, actor: StockActor): Promise<void>;
  /** The SKU's journal, newest first; `before` (the last entry of the previous page) pages on in the same order. */
  listAdjustments(skuId: string, limit?: number, before?: { createdAt: Date; id: string } | null): Promise<Array<{ id: string; delta: number; onHandAfter: number; accountId: string; reason: string; createdAt: Date }>>;
}

export function createInventoryContext(deps: ContextDeps): ContextModule<InventoryService> {
  const service = createInventoryService(deps);
  return {
    name: 'inventory',
    migrations: inventoryMigrations,
    service,
    // the worker's timer: abandoned checkouts give their stock back
    sweep: async () => {
      await service.expireReservations();
    },
  };
}
