/**
 * The enrollment tokens that admitted the pod's live WS connections, each under a small integer
 * index. A connection keeps only that index (one small-integer field, 8 bytes, instead of a
 * 36-character id string per socket); 0 means "no token" (open mode or the shared secret).
 * Entries are reference counted and their index reused once no connection holds them, so the
 * table stays as small as the number of distinct tokens in use.
 */
export class AdmittedTokens {
  private readonly ids: string[] = [''];
  private readonly digests: string[] = [''];
  private readonly refs: number[] = [0];
  private readonly byId = new Map<string, number>();
  private readonly free: number[] = [];

  /** Index for one more connection admitted by token `id` (SHA-256 hex `digestHex`). */
  acquire(id: string, digestHex: string): number {
    let index = this.byId.get(id);
    if (index === undefined) {
      index = this.free.pop() ?? this.ids.length;
      this.ids[index] = id;
      this.digests[index] = digestHex;
      this.refs[index] = 0;
      this.byId.set(id, index);
    }
    this.refs[index]!++;
    return index;
  }

  /** A connection holding `index` closed. */
  release(index: number): void {
    if (index <= 0 || index >= this.ids.length || this.refs[index]! <= 0) return;
    if (--this.refs[index]! > 0) return;
    this.byId.delete(this.ids[index]!);
    this.ids[index] = '';
    this.digests[index] = '';
    this.free.push(index);
  }

  /** Token id of an index ('' for 0 or a released index). */
  idAt(index: number): string {
    return this.ids[index] ?? '';
  }

  /** Index of token `id`, 0 when no live connection holds it. */
  indexOf(id: string): number {
    return this.byId.get(id) ?? 0;
  }

  /** Connections holding `index`. */
  holders(index: number): number {
    return index > 0 ? (this.refs[index] ?? 0) : 0;
  }

  /** Tokens with at least one live connection. */
  inUse(): Array<{ index: number; id: string; digestHex: string }> {
    return [...this.byId.values()].map((index) => ({ index, id: this.ids[index]!, digestHex: this.digests[index]! }));
  }

  get size(): number {
    return this.byId.size;
  }
}
