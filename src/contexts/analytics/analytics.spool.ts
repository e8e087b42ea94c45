import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Rows written to the spool together; deleted only once the store confirmed all of them. */
export interface SpoolSegment<R> {
  /** File name, also the base of the segment's insert deduplication tokens. */
  name: string;
  rows: R[];
}

/**
 * The local write-ahead file of accepted client events: a request is answered 202 only after its rows are appended
 * here, and a segment is deleted only after the store confirmed its insert, so a store outage or a process restart
 * loses nothing. Writes are plain appends (one write call per request, no fsync): they survive a process crash,
 * not a power loss; `rotate()` fsyncs the segment it closes, bounding that loss to the current flush interval.
 */
export class Spool<R> {
  readonly #dir: string;
  #fd: number | undefined;
  #current: SpoolSegment<R> | undefined;
  #bytes = 0;

  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) if (f.endsWith('.ndjson')) this.#bytes += statSync(join(dir, f)).size;
  }

  /** Bytes in spool files not yet confirmed by the store. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Segments left by processes that are gone (or by an earlier life of this pid), oldest first. A live process's
   * segments are its own to insert: taking one mid-write would store part of it under that segment's tokens.
   */
  leftovers(): SpoolSegment<R>[] {
    const names = readdirSync(this.#dir)
      .filter((f) => f.endsWith('.ndjson') && !isOtherLiveProcess(Number(f.split('-')[1])))
      .sort();
    return names.map((name) => {
      const text = readFileSync(join(this.#dir, name), 'utf8');
      // a torn last line (crash mid-write) is dropped: its request never got its 202
      const rows = text.split('\n').flatMap((l) => {
        try {
          return l ? [JSON.parse(l) as R] : [];
        } catch {
          return [];
        }
      });
      return { name, rows };
    });
  }

  /** Appends rows durably enough to answer 202 (see the class comment). */
  append(rows: readonly R[]): void {
    if (rows.length === 0) return;
    if (!this.#current) {
      // sortable by creation time, unique across processes sharing the directory
      const name = `${Date.now().toString().padStart(15, '0')}-${process.pid}-${randomBytes(4).toString('hex')}.ndjson`;
      this.#fd = openSync(join(this.#dir, name), 'a');
      this.#current = { name, rows: [] };
    }
    const text = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    writeSync(this.#fd!, text);
    this.#bytes += Buffer.byteLength(text);
    this.#current.rows.push(...rows);
  }

  /** Closes the segment being written and returns it (to be inserted); later appends start a new one. */
  rotate(): SpoolSegment<R> | undefined {
    const seg = this.#current;
    if (!seg) return undefined;
    fsyncSync(this.#fd!);
    closeSync(this.#fd!);
    this.#fd = undefined;
    this.#current = undefined;
    return seg;
  }

  /** Forgets a segment the store has confirmed. */
  confirm(seg: SpoolSegment<R>): void {
    const path = join(this.#dir, seg.name);
    try {
      this.#bytes -= statSync(path).size;
      unlinkSync(path);
    } catch {
      // already gone (confirmed twice): nothing to do
    }
  }

  /** Number of rows appended to the open segment. */
  get pendingRows(): number {
    return this.#current?.rows.length ?? 0;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

function isOtherLiveProcess(pid: number): boolean {
  if (!Number.isInteger(pid) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
