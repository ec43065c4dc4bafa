// A fixed-capacity byte FIFO, as found in UARTs and keyboard controllers. Overflow is the
// caller's business: push() reports whether the byte fitted.

export class ByteFifo {
  private _buf: Uint8Array;
  private _head = 0;
  private _count = 0;

  constructor(readonly capacity: number) {
    this._buf = new Uint8Array(capacity);
  }

  get length(): number {
    return this._count;
  }
  get empty(): boolean {
    return this._count === 0;
  }
  get full(): boolean {
    return this._count === this.capacity;
  }

  push(b: number): boolean {
    if (this._count === this.capacity) return false;
    this._buf[(this._head + this._count) % this.capacity] = b;
    this._count++;
    return true;
  }

  /** Oldest byte, removed; undefined when empty. */
  shift(): number | undefined {
    if (this._count === 0) return undefined;
    const b = this._buf[this._head];
    this._head = (this._head + 1) % this.capacity;
    this._count--;
    return b;
  }

  peek(): number | undefined {
    return this._count === 0 ? undefined : this._buf[this._head];
  }

  clear(): void {
    this._head = 0;
    this._count = 0;
  }

  toArray(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this._count; i++) out.push(this._buf[(this._head + i) % this.capacity]);
    return out;
  }

  load(bytes: readonly number[]): void {
    this.clear();
    for (const b of bytes.slice(0, this.capacity)) this.push(b);
  }
}
