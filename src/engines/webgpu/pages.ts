// Host side of the paged KV cache: which pages each slot (a running sequence) owns, mirrored into the
// GPU page table row of that slot when the sequence is admitted. A sequence reserves the pages of its
// whole worst case (prompt + max_tokens) at admission, so decoding never runs out of pages and never
// has to preempt; pages return to the pool when the sequence finishes.

export interface PagePool {
  pageSize: number;
  numPages: number;
  /** Columns of the page table: the most pages one sequence may hold. */
  maxPagesPerSeq: number;
  free: number[];
  /** Host copy of the page table [slots, maxPagesPerSeq] (−1: no page). */
  table: Int32Array;
  /** Pages held per slot. */
  held: number[][];
}

export function createPagePool(numPages: number, pageSize: number, slots: number, maxPagesPerSeq: number): PagePool {
  // Pages are handed out lowest first (a LIFO of descending ids).
  const free = Array.from({ length: numPages }, (_, i) => numPages - 1 - i);
  return {
    pageSize,
    numPages,
    maxPagesPerSeq,
    free,
    table: new Int32Array(slots * maxPagesPerSeq).fill(-1),
    held: Array.from({ length: slots }, () => []),
  };
}

export function pagesFor(pool: PagePool, tokens: number): number {
  return Math.ceil(tokens / pool.pageSize);
}

/** Gives `slot` pages for `tokens` positions; false (nothing taken) when the pool has too few free. */
export function reservePages(pool: PagePool, slot: number, tokens: number): boolean {
  const need = pagesFor(pool, tokens);
  if (need > pool.maxPagesPerSeq)
    throw new Error(
      `webgpu engine: a sequence of ${tokens} tokens needs ${need} pages, the page table has ${pool.maxPagesPerSeq} per sequence`,
    );
  if (pool.held[slot]!.length) throw new Error(`webgpu engine: slot ${slot} still holds pages`);
  if (pool.free.length < need) return false;
  const row = slot * pool.maxPagesPerSeq;
  for (let i = 0; i < need; i++) {
    const page = pool.free.pop()!;
    pool.held[slot]!.push(page);
    pool.table[row + i] = page;
  }
  return true;
}

export function releasePages(pool: PagePool, slot: number): void {
  const pages = pool.held[slot]!;
  for (let i = pages.length - 1; i >= 0; i--) pool.free.push(pages[i]!);
  pool.held[slot] = [];
  pool.table.fill(-1, slot * pool.maxPagesPerSeq, (slot + 1) * pool.maxPagesPerSeq);
}

/** Pool row of position `pos` of the sequence in `slot`. */
export function poolRow(pool: PagePool, slot: number, pos: number): number {
  const page = pool.table[slot * pool.maxPagesPerSeq + Math.floor(pos / pool.pageSize)]!;
  if (page < 0) throw new Error(`webgpu engine: slot ${slot} has no page for position ${pos}`);
  return page * pool.pageSize + (pos % pool.pageSize);
}
