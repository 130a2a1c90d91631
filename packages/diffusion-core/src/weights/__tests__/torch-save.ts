/**
 * Test helper: writes `.pt` files byte-for-byte the way `torch.save` (PyTorch ≥ 1.6, default
 * pickle protocol 2) does, so the `.pt` reader can be tested without Python.
 *
 * What CPython's C pickler emits for `torch.save(obj)` (`torch/serialization.py` `_save`):
 * - `PROTO 2`, then the object; every str, non-empty tuple, dict, global and REDUCE result is
 *   memoised with `BINPUT n` (`LONG_BINPUT` from 256) and re-emitted as `BINGET n`;
 * - an `OrderedDict` (e.g. `state_dict()`): `GLOBAL 'collections OrderedDict'`, `EMPTY_TUPLE`,
 *   `REDUCE`, then its items (`key value SETITEM` for one, `MARK k v … SETITEMS` for more), then
 *   its `__dict__` (`{'_metadata': …}`) and `BUILD`;
 * - a tensor: `GLOBAL 'torch._utils _rebuild_tensor_v2'` + the argument tuple
 *   `(storage, storage_offset, size, stride, requires_grad, OrderedDict())` + `REDUCE`, where the
 *   storage is the persistent id tuple `('storage', torch.FloatStorage, '<key>', 'cpu', numel)`
 *   followed by `BINPERSID`;
 * - the zip holds `archive/data.pkl`, `archive/byteorder`, `archive/data/<key>`, `archive/version`.
 */
import { zipSync } from 'fflate';

export type PyValue =
  | null
  | boolean
  | number
  | string
  | PyValue[]
  | { tuple: PyValue[] }
  | { dict: [PyValue, PyValue][]; ordered?: boolean; metadata?: boolean }
  | { global: string }
  /** `func(*args)` via REDUCE, as `__reduce__` results are pickled. */
  | { call: string; args: PyValue[] }
  /** A persistent id (`BINPERSID`), e.g. `('storage', torch.UntypedStorage, '0', 'cpu', nbytes)`. */
  | { persid: PyValue[] }
  | PyTensor;

export interface PyTensor {
  tensor: {
    storageType:
      | 'FloatStorage'
      | 'DoubleStorage'
      | 'HalfStorage'
      | 'LongStorage'
      | 'IntStorage'
      | 'ByteStorage'
      | 'BFloat16Storage';
    /** Raw storage bytes (little-endian) and its element count. */
    storage: Uint8Array;
    numel: number;
    /** The storage key; tensors sharing a key share the storage (like views). */
    key: string;
    offset: number;
    size: number[];
    stride: number[];
    requiresGrad?: boolean;
  };
}

class Pickler {
  readonly out: number[] = [];
  private memo = new Map<string, number>();

  private byte(...b: number[]): void {
    this.out.push(...b);
  }
  private u32(n: number): void {
    this.byte(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255);
  }
  private put(id: string): void {
    const n = this.memo.size;
    this.memo.set(id, n);
    if (n < 256) this.byte(0x71, n);
    else {
      this.byte(0x72);
      this.u32(n);
    }
  }
  /** Emits BINGET if `id` is memoised; returns whether it did. */
  private get(id: string): boolean {
    const n = this.memo.get(id);
    if (n === undefined) return false;
    if (n < 256) this.byte(0x68, n);
    else {
      this.byte(0x6a);
      this.u32(n);
    }
    return true;
  }

  int(n: number): void {
    if (n >= 0 && n < 256) this.byte(0x4b, n);
    else if (n >= 0 && n < 65536) this.byte(0x4d, n & 255, n >> 8);
    else if (n >= -(2 ** 31) && n < 2 ** 31) {
      this.byte(0x4a);
      this.u32(n >>> 0);
    } else {
      // LONG1, little-endian two's complement
      let v = BigInt(n);
      const bytes: number[] = [];
      while (v !== 0n && v !== -1n) {
        bytes.push(Number(v & 255n));
        v >>= 8n;
      }
      if (v === 0n && bytes.length && bytes[bytes.length - 1]! & 0x80) bytes.push(0);
      if (v === -1n && (!bytes.length || !(bytes[bytes.length - 1]! & 0x80))) bytes.push(255);
      this.byte(0x8a, bytes.length, ...bytes);
    }
  }

  str(s: string): void {
    if (this.get(`s:${s}`)) return;
    const b = new TextEncoder().encode(s);
    this.byte(0x58);
    this.u32(b.length);
    this.byte(...b);
    this.put(`s:${s}`);
  }

  global(name: string): void {
    if (this.get(`g:${name}`)) return;
    const i = name.lastIndexOf('.');
    const text = `${name.slice(0, i)}\n${name.slice(i + 1)}\n`;
    this.byte(0x63, ...new TextEncoder().encode(text));
    this.put(`g:${name}`);
  }

  private uid = 0;
  private fresh(): string {
    return `o:${this.uid++}`;
  }

  tuple(items: PyValue[]): void {
    if (items.length === 0) {
      this.byte(0x29);
      return;
    }
    if (items.length <= 3) {
      items.forEach((x) => this.save(x));
      this.byte([0x85, 0x86, 0x87][items.length - 1]!);
    } else {
      this.byte(0x28);
      items.forEach((x) => this.save(x));
      this.byte(0x74);
    }
    this.put(this.fresh());
  }

  private setitems(items: [PyValue, PyValue][]): void {
    if (items.length === 1) {
      this.save(items[0]![0]);
      this.save(items[0]![1]);
      this.byte(0x73);
    } else if (items.length > 1) {
      this.byte(0x28);
      for (const [k, v] of items) {
        this.save(k);
        this.save(v);
      }
      this.byte(0x75);
    }
  }

  save(v: PyValue): void {
    if (v === null) this.byte(0x4e);
    else if (v === true) this.byte(0x88);
    else if (v === false) this.byte(0x89);
    else if (typeof v === 'number') this.int(v);
    else if (typeof v === 'string') this.str(v);
    else if (Array.isArray(v)) {
      this.byte(0x5d);
      this.put(this.fresh());
      if (v.length === 1) {
        this.save(v[0]!);
        this.byte(0x61);
      } else if (v.length > 1) {
        this.byte(0x28);
        v.forEach((x) => this.save(x));
        this.byte(0x65);
      }
    } else if ('tuple' in v) this.tuple(v.tuple);
    else if ('global' in v) this.global(v.global);
    else if ('call' in v) {
      this.global(v.call);
      this.tuple(v.args);
      this.byte(0x52);
      this.put(this.fresh());
    } else if ('persid' in v) {
      this.tuple(v.persid);
      this.byte(0x51);
    } else if ('dict' in v) {
      if (v.ordered) {
        this.global('collections.OrderedDict');
        this.byte(0x29, 0x52);
        this.put(this.fresh());
        this.setitems(v.dict);
        if (v.metadata) {
          // state_dict()._metadata = OrderedDict({'': {'version': 1}}), saved as __dict__ + BUILD
          this.byte(0x7d);
          this.put(this.fresh());
          this.setitems([
            [
              '_metadata',
              {
                dict: [['', { dict: [['version', 1]] }]],
                ordered: true,
              },
            ],
          ]);
          this.byte(0x62);
        }
      } else {
        this.byte(0x7d);
        this.put(this.fresh());
        this.setitems(v.dict);
      }
    } else if ('tensor' in v) {
      const t = v.tensor;
      this.global('torch._utils._rebuild_tensor_v2');
      this.byte(0x28); // MARK of the 6-tuple
      // persistent id ('storage', torch.<T>Storage, key, 'cpu', numel) + BINPERSID
      this.tuple(['storage', { global: `torch.${t.storageType}` }, t.key, 'cpu', t.numel]);
      this.byte(0x51);
      this.int(t.offset);
      this.tuple(t.size);
      this.tuple(t.stride);
      this.byte(t.requiresGrad ? 0x88 : 0x89);
      this.global('collections.OrderedDict');
      this.byte(0x29, 0x52);
      this.put(this.fresh());
      this.byte(0x74);
      this.put(this.fresh());
      this.byte(0x52);
      this.put(this.fresh());
    }
  }
}

/** Pickles `obj` with protocol 2 as torch.save does; returns the data.pkl bytes. */
export function torchPickle(obj: PyValue): Uint8Array {
  const p = new Pickler();
  p.out.push(0x80, 0x02);
  p.save(obj);
  p.out.push(0x2e);
  return Uint8Array.from(p.out);
}

function collectStorages(v: PyValue, out: Map<string, Uint8Array>): void {
  if (v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) v.forEach((x) => collectStorages(x, out));
  else if ('tuple' in v) v.tuple.forEach((x) => collectStorages(x, out));
  else if ('dict' in v) v.dict.forEach(([, x]) => collectStorages(x, out));
  else if ('tensor' in v) out.set(v.tensor.key, v.tensor.storage);
}

/** A complete `torch.save` zip file (`archive/…` entries, stored uncompressed like torch). */
export function torchSave(obj: PyValue, pickleBytes = torchPickle(obj)): Uint8Array {
  const storages = new Map<string, Uint8Array>();
  collectStorages(obj, storages);
  const files: Record<string, Uint8Array> = { 'archive/data.pkl': pickleBytes };
  files['archive/byteorder'] = new TextEncoder().encode('little');
  for (const [k, b] of storages) files[`archive/data/${k}`] = b;
  files['archive/version'] = new TextEncoder().encode('3\n');
  files['archive/.data/serialization_id'] = new TextEncoder().encode('1234567890123456789012345678901234567890');
  return zipSync(files, { level: 0 });
}

/** A float32 tensor whose storage holds `values` contiguously. */
export function f32Tensor(
  key: string,
  size: number[],
  values: number[],
  extra: Partial<PyTensor['tensor']> = {},
): PyTensor {
  const storage = new Uint8Array(new Float32Array(values).buffer);
  const stride = size.map((_, d) => size.slice(d + 1).reduce((a, b) => a * b, 1));
  return {
    tensor: { storageType: 'FloatStorage', storage, numel: values.length, key, offset: 0, size, stride, ...extra },
  };
}

/** An OrderedDict state dict with `_metadata`, as `module.state_dict()` pickles. */
export function stateDict(entries: [string, PyValue][]): PyValue {
  return { dict: entries, ordered: true, metadata: true };
}
