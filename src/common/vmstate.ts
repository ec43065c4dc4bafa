// Device state as a declared list of named, versioned fields (QEMU's VMState idea): one
// declaration drives snapshot, restore and the raw view in `info device`. Never positional.

import { StateError } from './errors.js';

export type FieldType =
  | 'u8' | 'u16' | 'u32' | 'i32' | 'f64' | 'bool' | 'string'
  | 'u8[]' | 'u16[]' | 'u32[]' | 'f64[]' | 'bytes' | 'json';

export interface FieldDecl {
  name: string;
  type: FieldType;
  /** State version that introduced the field; older snapshots keep the reset value. */
  since?: number;
}

export interface StateDesc {
  /** Usually the device kind ("uart16550"). */
  name: string;
  version: number;
  fields: readonly FieldDecl[];
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface DeviceState {
  name: string;
  version: number;
  fields: Record<string, JsonValue>;
}

function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function hexToBytes(s: string): Uint8Array {
  if (s.length % 2 !== 0 || /[^0-9a-f]/i.test(s)) throw new StateError('malformed hex byte string');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

const INT_LIMITS: Partial<Record<FieldType, [number, number]>> = {
  u8: [0, 0xff], u16: [0, 0xffff], u32: [0, 0xffffffff], i32: [-0x80000000, 0x7fffffff],
};

function encode(f: FieldDecl, v: unknown): JsonValue {
  switch (f.type) {
    case 'bytes': return bytesToHex(v as Uint8Array);
    case 'u8[]': case 'u16[]': case 'u32[]': case 'f64[]': return Array.from(v as ArrayLike<number>);
    case 'json': return JSON.parse(JSON.stringify(v)) as JsonValue;
    default: return v as JsonValue;
  }
}

function decode(desc: StateDesc, f: FieldDecl, v: JsonValue, current: unknown): unknown {
  const bad = (): never => {
    throw new StateError(`${desc.name}: field ${f.name} is not a valid ${f.type}`);
  };
  const lim = INT_LIMITS[f.type];
  if (lim) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lim[0] || v > lim[1]) bad();
    return v;
  }
  switch (f.type) {
    case 'f64': if (typeof v !== 'number') bad(); return v;
    case 'bool': if (typeof v !== 'boolean') bad(); return v;
    case 'string': if (typeof v !== 'string') bad(); return v;
    case 'bytes': {
      if (typeof v !== 'string') bad();
      const b = hexToBytes(v as string);
      if (current instanceof Uint8Array) {
        if (b.length !== current.length) bad();
        current.set(b);
        return current;
      }
      return b;
    }
    case 'u8[]': case 'u16[]': case 'u32[]': case 'f64[]': {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) bad();
      const arr = v as number[];
      if (ArrayBuffer.isView(current)) {
        const cur = current as unknown as { length: number; set(a: ArrayLike<number>): void };
        if (arr.length !== cur.length) bad();
        cur.set(arr);
        return current;
      }
      return arr.slice();
    }
    case 'json': return v;
  }
  return bad();
}

/** Reads the declared fields out of a device's state object. */
export function saveState(desc: StateDesc, obj: object): DeviceState {
  const rec = obj as Record<string, unknown>;
  const fields: Record<string, JsonValue> = {};
  for (const f of desc.fields) {
    if (!(f.name in rec)) throw new StateError(`${desc.name}: declared field ${f.name} is missing`);
    fields[f.name] = encode(f, rec[f.name]);
  }
  return { name: desc.name, version: desc.version, fields };
}

/**
 * Writes saved fields back into a device's state object. Fields newer than the snapshot keep
 * their current (reset) values; unknown fields and a newer snapshot version are errors.
 */
export function loadState(desc: StateDesc, obj: object, s: DeviceState): void {
  if (s.name !== desc.name) throw new StateError(`state of ${s.name} cannot be restored into ${desc.name}`);
  if (s.version > desc.version) {
    throw new StateError(`${desc.name}: state version ${s.version} is newer than supported ${desc.version}`);
  }
  const rec = obj as Record<string, unknown>;
  const known = new Set(desc.fields.map((f) => f.name));
  for (const k of Object.keys(s.fields)) {
    if (!known.has(k)) throw new StateError(`${desc.name}: unknown field ${k}`);
  }
  // Decode everything first so that a bad field leaves the device untouched.
  const decoded: [string, unknown][] = [];
  for (const f of desc.fields) {
    if ((f.since ?? 1) > s.version) continue;
    if (!(f.name in s.fields)) throw new StateError(`${desc.name}: field ${f.name} missing from state`);
    const cur = rec[f.name];
    const copy = ArrayBuffer.isView(cur) ? (cur as unknown as { slice(): unknown }).slice() : cur;
    decoded.push([f.name, decode(desc, f, s.fields[f.name], copy)]);
  }
  for (const [k, v] of decoded) {
    const cur = rec[k];
    if (ArrayBuffer.isView(cur) && ArrayBuffer.isView(v)) (cur as unknown as { set(a: unknown): void }).set(v);
    else rec[k] = v;
  }
}
