// A range the device model announced with mapIoRange, as the core maps it: an IoRegion whose
// operations forward the access over the ioreq channel (crosvm's ProxyDevice idea). Reads
// round-trip; writes to a posted range go through the buffered ring, in order.

import type { IoRegion, IoRegionOps } from '../../common/io.js';
import type { AccessSize, Space } from '../../common/types.js';
import { IoDir } from '../vcpu/VcpuBackend.js';
import { IoreqType } from './abi.js';
import type { IoreqClient } from './channel.js';

/** What the device model sends when it maps a range (structured-clone friendly). */
export interface RangeAnnouncement {
  name: string;
  space: Space;
  base: number;
  size: number;
  posted: boolean;
  /** Register names by offset for small ranges: [readName, writeName]. */
  registers?: [string | null, string | null][];
}

/** Which vCPU's slot a forwarded access uses: the thread points it at the vCPU it runs. */
export interface ClientRef {
  current: IoreqClient;
}

export class RemoteRange implements IoRegion {
  readonly name: string;
  readonly space: Space;
  readonly size: number;
  readonly posted: boolean;
  readonly ops: IoRegionOps;
  private readonly _type: IoreqType;

  constructor(
    readonly announcement: RangeAnnouncement,
    ref: ClientRef,
  ) {
    this.name = announcement.name;
    this.space = announcement.space;
    this.size = announcement.size;
    this.posted = announcement.posted;
    this._type = this.space === 'pio' ? IoreqType.PIO : IoreqType.COPY;
    const base = announcement.base;
    const type = this._type;
    const posted = this.posted;
    // The device model splits and widens for its devices; the core forwards the access whole.
    this.ops = {
      read: (offset: number, size: AccessSize) => ref.current.submit(type, IoDir.READ, base + offset, size, 1, 0),
      write: (offset: number, size: AccessSize, value: number) => {
        const client = ref.current;
        if (posted && client.post(type, base + offset, size, value)) return;
        client.submit(type, IoDir.WRITE, base + offset, size, 1, value);
      },
      readRep: (offset: number, size: AccessSize, count: number, into: Uint8Array) => {
        const client = ref.current;
        client.submit(type, IoDir.READ, base + offset, size, count, 0);
        into.set(client.page.subarray(0, count * size));
      },
      writeRep: (offset: number, size: AccessSize, count: number, from: Uint8Array) => {
        const client = ref.current;
        client.page.set(from.subarray(0, count * size));
        client.submit(type, IoDir.WRITE, base + offset, size, count, 0);
      },
    };
  }

  registerName(offset: number, dir: 'read' | 'write'): string | undefined {
    const r = this.announcement.registers?.[offset];
    return (r && (dir === 'read' ? r[0] : r[1])) ?? undefined;
  }
}
