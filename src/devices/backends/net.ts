// Network backend: a UDP socket hub on loopback, so that hvmon VMs on one machine exchange
// Ethernet frames, plus an optional pcap capture of every frame.
//
//   --netdev udp,id=ID,listen=[HOST:]PORT,peer=HOST:PORT[,peer=HOST:PORT...][,pcap=FILE][,mac=MAC]
//
//  - Each VM binds its own UDP port (`listen`, default host 127.0.0.1) and sends every frame
//    the guest transmits to every `peer`, one datagram per frame, the frame as is (no FCS,
//    no length prefix). Two VMs: A `listen=5001,peer=127.0.0.1:5002`, B `listen=5002,
//    peer=127.0.0.1:5001`; a hub of N VMs lists the other N-1 as peers (a full mesh, which is
//    what a hub looks like from each port). The datagram format is that of QEMU's
//    `-netdev dgram` with inet addresses, so a QEMU guest can be one of the peers.
//  - Datagrams are taken only from the listed peers; anything else (and anything shorter than
//    an Ethernet header) is dropped and counted. Frames arrive through the receive handler
//    on the event loop of the thread that opened the backend.
//  - Addresses must be loopback (127.0.0.0/8, localhost, ::1): this is a hub between VMs on
//    one machine, not a way onto a network.
//  - Like a wire, UDP may drop frames; a failed send is counted and reported through
//    `onError`, never thrown into the guest's transmit path.
//  - pcap=FILE writes every frame sent and received, in order, as classic libpcap
//    (LINKTYPE_ETHERNET, microsecond timestamps), readable by `tshark -r FILE`.
//  - mac=xx:xx:xx:xx:xx:xx is the station address of the NIC that --netdev adds (QEMU's
//    `-nic ...,mac=`): VMs on one hub need different ones (the default is 52:54:00:12:34:56).

import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import type { NetBackend } from '../../common/device.js';
import { BackendError, UsageError, errorMessage } from '../../common/errors.js';
import { splitOptions } from './disk.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface NetdevSpec {
  type: 'udp';
  id?: string;
  listen: HostPort;
  peers: HostPort[];
  pcap?: string;
  /** The NIC's MAC address (for the board, not the backend). */
  mac?: string;
}

const ETH_HEADER = 14;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function parseHostPort(key: string, v: string, defaultHost: string | null): HostPort {
  let host: string;
  let portStr: string;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  if (m) {
    host = m[1];
    portStr = m[2];
  } else if (/^\d+$/.test(v) && defaultHost !== null) {
    host = defaultHost;
    portStr = v;
  } else {
    throw new UsageError(`--netdev ${key}=${v}: expected ${defaultHost !== null ? '[HOST:]PORT' : 'HOST:PORT'}`);
  }
  const port = Number(portStr);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--netdev ${key}=${v}: bad port`);
  if (!isLoopback(host)) throw new UsageError(`--netdev ${key}=${v}: only loopback addresses (127.x.x.x, localhost, ::1) are allowed`);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

export function parseNetdevSpec(spec: string): NetdevSpec {
  const opts = splitOptions(spec);
  if (opts.length === 0 || opts[0][1] !== '' || opts[0][0] !== 'udp') {
    throw new UsageError(`--netdev ${spec}: the backend type comes first; hvmon has 'udp' (udp,listen=PORT,peer=HOST:PORT)`);
  }
  const out: NetdevSpec = { type: 'udp', listen: { host: '127.0.0.1', port: 0 }, peers: [] };
  let haveListen = false;
  for (const [k, v] of opts.slice(1)) {
    switch (k) {
      case 'id': out.id = v; break;
      case 'listen': out.listen = parseHostPort(k, v, '127.0.0.1'); haveListen = true; break;
      case 'peer': out.peers.push(parseHostPort(k, v, null)); break;
      case 'pcap':
        if (v === '') throw new UsageError('--netdev pcap= needs a file name');
        out.pcap = v;
        break;
      case 'mac':
        // A station address: six bytes, and unicast (bit 0 of the first byte clear).
        if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v) || parseInt(v.slice(0, 2), 16) & 1) {
          throw new UsageError(`--netdev mac=${v}: expected a unicast MAC address such as 52:54:00:12:34:57`);
        }
        out.mac = v.toLowerCase();
        break;
      default:
        throw new UsageError(`--netdev: unknown option '${k}' (known: id, listen, peer, pcap, mac)`);
    }
  }
  if (!haveListen) throw new UsageError(`--netdev ${spec}: listen=PORT is required`);
  return out;
}

/** Classic libpcap writer (magic a1b2c3d4, version 2.4, LINKTYPE_ETHERNET). */
export class PcapWriter {
  private _fd: number;
  frames = 0;

  constructor(readonly path: string) {
    try {
      this._fd = fs.openSync(path, 'w');
      const h = Buffer.alloc(24);
      h.writeUInt32LE(0xa1b2c3d4, 0);
      h.writeUInt16LE(2, 4);
      h.writeUInt16LE(4, 6);
      h.writeInt32LE(0, 8); // thiszone
      h.writeUInt32LE(0, 12); // sigfigs
      h.writeUInt32LE(65535, 16); // snaplen
      h.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
      fs.writeSync(this._fd, h);
    } catch (e) {
      throw new BackendError(`cannot write pcap file ${path}: ${errorMessage(e)}`);
    }
  }

  write(frame: Uint8Array, timeMs = Date.now()): void {
    if (this._fd < 0) return;
    const h = Buffer.alloc(16);
    const sec = Math.floor(timeMs / 1000);
    h.writeUInt32LE(sec >>> 0, 0);
    h.writeUInt32LE(Math.floor((timeMs - sec * 1000) * 1000), 4);
    h.writeUInt32LE(frame.length, 8);
    h.writeUInt32LE(frame.length, 12);
    try {
      fs.writeSync(this._fd, h);
      fs.writeSync(this._fd, frame);
      this.frames++;
    } catch (e) {
      throw new BackendError(`write to pcap file ${this.path} failed: ${errorMessage(e)}`);
    }
  }

  close(): void {
    if (this._fd >= 0) fs.closeSync(this._fd);
    this._fd = -1;
  }
}

/**
 * One port of the loopback UDP hub. `await UdpNet.open(spec)` binds before returning;
 * `openNetdev(spec)` returns at once and binds in the background (frames the guest sends
 * meanwhile wait for the bind; `ready` rejects with a BackendError if it fails).
 */
export class UdpNet implements NetBackend {
  readonly name: string;
  /** Settles when the socket is bound; rejects with a BackendError naming the address. */
  readonly ready: Promise<void>;
  private readonly _peers: HostPort[];
  private _handler: ((frame: Uint8Array) => void) | null = null;
  private _closed = false;
  private _bound = false;
  private _failed = false;
  private _pending: Buffer[] = [];
  readonly stats = { txFrames: 0, rxFrames: 0, rxDropped: 0, txErrors: 0 };
  /** Send and bind failures (the guest is not told, as with a lossy wire). */
  onError: (e: Error) => void = () => {};

  private constructor(
    private readonly _sock: dgram.Socket,
    readonly spec: NetdevSpec,
    private readonly _pcap: PcapWriter | null,
  ) {
    this._peers = spec.peers.slice();
    this.name = `udp:${spec.listen.host}:${spec.listen.port}`;
    this.ready = new Promise<void>((resolve, reject) => {
      const onErr = (e: Error) => {
        this._failed = true;
        this._pending = [];
        const err = new BackendError(`cannot listen on UDP ${spec.listen.host}:${spec.listen.port}: ${errorMessage(e)}`);
        this.onError(err);
        reject(err);
      };
      _sock.once('error', onErr);
      _sock.bind(spec.listen.port, spec.listen.host, () => {
        _sock.off('error', onErr);
        _sock.on('error', (e) => this.onError(e));
        this._bound = true;
        for (const b of this._pending) this._sendNow(b);
        this._pending = [];
        resolve();
      });
    });
    // An unobserved bind failure must not crash the process; onError has seen it.
    this.ready.catch(() => {});
    _sock.on('message', (msg, rinfo) => this._onMessage(msg, rinfo));
  }

  /** Creates the port and starts binding (see `ready`). */
  static create(spec: NetdevSpec | string): UdpNet {
    const s = typeof spec === 'string' ? parseNetdevSpec(spec) : spec;
    const pcap = s.pcap ? new PcapWriter(s.pcap) : null;
    const sock = dgram.createSocket(s.listen.host.includes(':') ? 'udp6' : 'udp4');
    return new UdpNet(sock, s, pcap);
  }

  /** Creates the port and waits until it is bound. */
  static async open(spec: NetdevSpec | string): Promise<UdpNet> {
    const n = UdpNet.create(spec);
    try {
      await n.ready;
    } catch (e) {
      n.close();
      throw e;
    }
    return n;
  }

  /** The UDP port this hub port listens on (useful with listen=0); 0 until bound. */
  get port(): number {
    return this._bound ? this._sock.address().port : 0;
  }

  /** Adds a peer after opening (a hub whose ports were chosen by the OS). */
  addPeer(host: string, port: number): void {
    this._peers.push(parseHostPort('peer', `${host.includes(':') ? `[${host}]` : host}:${port}`, null));
  }

  get peers(): readonly HostPort[] {
    return this._peers;
  }

  send(frame: Uint8Array): void {
    if (this._closed || this._failed) return;
    this._pcap?.write(frame);
    this.stats.txFrames++;
    // dgram keeps a reference to the buffer until it is sent: give it its own copy.
    const copy = Buffer.from(frame);
    if (this._bound) this._sendNow(copy);
    else this._pending.push(copy);
  }

  private _sendNow(b: Buffer): void {
    for (const p of this._peers) {
      this._sock.send(b, p.port, p.host, (err) => {
        if (err) {
          this.stats.txErrors++;
          this.onError(new BackendError(`${this.name}: send to ${p.host}:${p.port} failed: ${err.message}`));
        }
      });
    }
  }

  setReceiveHandler(cb: ((frame: Uint8Array) => void) | null): void {
    this._handler = cb;
  }

  private _onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const fromPeer = this._peers.some((p) => p.port === rinfo.port && p.host === rinfo.address);
    if (!fromPeer || msg.length < ETH_HEADER || !this._handler) {
      this.stats.rxDropped++;
      return;
    }
    const frame = new Uint8Array(msg.buffer, msg.byteOffset, msg.length).slice();
    this._pcap?.write(frame);
    this.stats.rxFrames++;
    this._handler(frame);
  }

  close(): void {
    if (this._closed) return;
    this._closed = true;
    this._handler = null;
    try {
      this._sock.close();
    } catch {
      // already closed after a failed bind
    }
    this._pcap?.close();
  }
}

/** The daemon's entry: a hub port from a --netdev spec, binding in the background. */
export function openNetdev(spec: string): UdpNet {
  return UdpNet.create(spec);
}
