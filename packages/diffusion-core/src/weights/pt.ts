/**
 * Reads PyTorch `.pt` / `.pth` / `.ckpt` files written by `torch.save` (PyTorch ≥ 1.6 zip format)
 * **without executing any pickle code**.
 *
 * Format (`torch/serialization.py` `_save`): a zip archive `<name>/data.pkl` (the object, pickled
 * with protocol 2 by default), `<name>/data/<key>` (raw little-endian storage bytes), plus
 * `<name>/version`, `<name>/byteorder`. Tensors are pickled as
 * `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata])`, where `storage` is a persistent id
 * `('storage', torch.FloatStorage, '<key>', 'cpu', numel)`.
 *
 * This module is a small pickle *interpreter* that understands the opcodes and only an allow-list
 * of globals (`collections.OrderedDict`, the tensor/parameter rebuild functions, the typed storage
 * classes). Any other global is refused with a {@link WeightsError} naming it — nothing is ever
 * executed. Tensors come out as the same `{dtype, shape, data}` entries as
 * {@link readSafetensors}, copied contiguously (strides and offsets honoured).
 */
import { unzipSync } from 'fflate';
import { WeightsError } from '../errors.js';
import { DTYPE_BYTES, decodeTensorBytes, type SafetensorsDtype, type SafetensorsEntry } from './safetensors.js';

/** A tensor read from a `.pt` file (contiguous copy, PyTorch layout). */
export interface TorchFileTensor extends SafetensorsEntry {
  /** Marker so tensors can be told apart from other values in the object tree. */
  readonly kind: 'tensor';
  requiresGrad: boolean;
}

/** An inert record of an object whose class is not on the allow-list (only with `allowUnknownGlobals`). */
export interface PickleOpaque {
  readonly kind: 'opaque';
  /** `module.qualname` of the class or function. */
  global: string;
  args: PickleValue[];
  state?: PickleValue;
}

/**
 * Values of the unpickled object tree: Python dicts (also OrderedDict) become `Map`s, lists and
 * tuples arrays, `bytes` Uint8Arrays, ints numbers (bigint when not a safe integer).
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleKey, PickleValue>
  | Set<PickleKey>
  | TorchFileTensor
  | PickleOpaque;

export type PickleKey = string | number | bigint | boolean | null;

export interface ReadTorchOptions {
  /** Name of the source for error messages (a file name). */
  source?: string;
  /**
   * Instead of refusing unknown globals (the default), represent such objects as inert
   * {@link PickleOpaque} records. Still executes nothing; useful for Lightning checkpoints whose
   * `hyper_parameters` hold custom classes next to the `state_dict`.
   */
  allowUnknownGlobals?: boolean;
}

export interface TorchFile {
  /** The unpickled object. */
  root: PickleValue;
  /** Every tensor in the tree, keyed by its dotted path of string dict keys / list indices. */
  tensors: Map<string, TorchFileTensor>;
}

// ---------------------------------------------------------------------------------------------
// Allowed globals

interface GlobalRef {
  readonly kind: 'global';
  readonly name: string;
}

interface StorageRef {
  readonly kind: 'storage';
  dtype: SafetensorsDtype;
  key: string;
  numel: number;
}

/** `torch.<X>Storage` → dtype. */
const STORAGE_DTYPES: Record<string, SafetensorsDtype> = {
  'torch.FloatStorage': 'F32',
  'torch.DoubleStorage': 'F64',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ShortStorage': 'I16',
  'torch.CharStorage': 'I8',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'BOOL',
  // Untyped byte storage (PyTorch ≥ 2): element type comes from `_rebuild_tensor_v3`'s dtype.
  'torch.UntypedStorage': 'U8',
};

/** `torch.<dtype>` globals (arguments of `_rebuild_tensor_v3`) → dtype. */
const TORCH_DTYPES: Record<string, SafetensorsDtype> = {
  'torch.float32': 'F32',
  'torch.float64': 'F64',
  'torch.float16': 'F16',
  'torch.bfloat16': 'BF16',
  'torch.int64': 'I64',
  'torch.int32': 'I32',
  'torch.int16': 'I16',
  'torch.int8': 'I8',
  'torch.uint8': 'U8',
  'torch.bool': 'BOOL',
};

const CALLABLE_GLOBALS = new Set([
  'collections.OrderedDict',
  'builtins.dict',
  'builtins.list',
  'builtins.set',
  'builtins.tuple',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
]);

/** Classes that may appear only as arguments (never called by us). */
const TYPE_GLOBALS = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter', 'torch.Size']);

function isAllowedGlobal(name: string): boolean {
  return CALLABLE_GLOBALS.has(name) || TYPE_GLOBALS.has(name) || name in STORAGE_DTYPES || name in TORCH_DTYPES;
}

// ---------------------------------------------------------------------------------------------
// Entry points

const textDecoder = new TextDecoder('utf-8');

/**
 * Parses a `torch.save` zip file. Throws {@link WeightsError} for the legacy (non-zip) format,
 * TorchScript archives, big-endian files, disallowed globals and malformed data.
 */
export function readTorchFile(bytes: Uint8Array, options: ReadTorchOptions = {}): TorchFile {
  const source = options.source ?? 'PyTorch file';
  if (bytes.byteLength < 4) throw new WeightsError(source, `too short for a PyTorch file (${bytes.byteLength} bytes)`);
  const isZip = bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (!isZip) {
    if (bytes[0] === 0x80) {
      throw new WeightsError(
        source,
        'legacy (non-zip) torch.save format (PyTorch < 1.6 or _use_new_zipfile_serialization=False) is not supported; ' +
          're-save it with PyTorch ≥ 1.6: torch.save(torch.load(path), path)',
      );
    }
    throw new WeightsError(source, 'not a PyTorch zip checkpoint (missing the zip signature "PK\\x03\\x04")');
  }
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new WeightsError(source, `corrupt zip archive (${(e as Error).message})`);
  }
  const names = Object.keys(entries);
  const pkl =
    names.find((n) => /^[^/]+\/data\.pkl$/.test(n)) ?? names.find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pkl) {
    if (names.some((n) => n.endsWith('constants.pkl') || /(^|\/)code\//.test(n))) {
      throw new WeightsError(
        source,
        'this is a TorchScript archive (torch.jit.save); save the state_dict with torch.save instead',
      );
    }
    throw new WeightsError(source, `no data.pkl in the zip archive (entries: ${names.slice(0, 5).join(', ')})`);
  }
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const byteorder = entries[`${prefix}byteorder`];
  if (byteorder && textDecoder.decode(byteorder).trim() !== 'little') {
    throw new WeightsError(
      source,
      `byte order '${textDecoder.decode(byteorder).trim()}' is not supported (only little-endian)`,
    );
  }
  const storages = (key: string): Uint8Array => {
    const data = entries[`${prefix}data/${key}`];
    if (!data) throw new WeightsError(source, `storage '${key}' referenced by data.pkl is missing from the archive`);
    return data;
  };
  const root = new Unpickler(entries[pkl]!, source, storages, options.allowUnknownGlobals ?? false).load();
  const tensors = new Map<string, TorchFileTensor>();
  collectTensors(root, '', tensors);
  return { root, tensors };
}

export interface ReadTorchStateDictOptions extends ReadTorchOptions {
  /**
   * Path of the state dict inside the saved object, e.g. `'ema'` or `['checkpoint', 'model']`.
   * Default: the object itself if it is a dict of tensors, else the first of `state_dict`,
   * `model_state_dict`, `model`, `ema`, `net`, `module` that is.
   */
  key?: string | readonly string[];
  /** Prefix removed from every key that has it, e.g. `'module.'` (DataParallel) or `'model.'` (Lightning). */
  stripPrefix?: string;
}

const DEFAULT_STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'ema', 'net', 'module'];

/**
 * Reads the state dict of a `torch.save` file as a name → tensor map (the same entries as
 * {@link readSafetensors}). Nested dicts inside the state dict are flattened with dots.
 */
export function readTorchStateDict(
  bytes: Uint8Array,
  options: ReadTorchStateDictOptions = {},
): Map<string, TorchFileTensor> {
  const source = options.source ?? 'PyTorch file';
  const { root } = readTorchFile(bytes, options);
  let node: PickleValue = root;
  if (options.key !== undefined) {
    const path = typeof options.key === 'string' ? [options.key] : options.key;
    for (const k of path) {
      if (!(node instanceof Map) || !node.has(k)) {
        throw new WeightsError(source, `no key '${k}' in the saved object (keys: ${describeKeys(node)})`);
      }
      node = node.get(k)!;
    }
  } else if (!isFlatTensorDict(node)) {
    // A state_dict's values are all tensors; otherwise look for the usual wrapper keys, and
    // finally accept any dict that (recursively) holds only tensors.
    const m = node instanceof Map ? node : undefined;
    const found = DEFAULT_STATE_DICT_KEYS.find((k) => m?.has(k) && isTensorDict(m.get(k)!));
    if (found) node = m!.get(found)!;
    else if (!isTensorDict(node)) {
      throw new WeightsError(
        source,
        `cannot find a state dict in the saved object (keys: ${describeKeys(node)}); pass options.key`,
      );
    }
  }
  const out = new Map<string, TorchFileTensor>();
  collectTensors(node, '', out);
  if (out.size === 0) throw new WeightsError(source, 'the selected object holds no tensors');
  if (options.stripPrefix) {
    const p = options.stripPrefix;
    return new Map([...out].map(([k, v]) => [k.startsWith(p) ? k.slice(p.length) : k, v]));
  }
  return out;
}

function describeKeys(v: PickleValue): string {
  if (!(v instanceof Map)) return `<${typeName(v)}>`;
  const keys = [...v.keys()].map(String);
  return keys.slice(0, 10).join(', ') + (keys.length > 10 ? ', …' : '');
}

function typeName(v: PickleValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object' && 'kind' in v) return v.kind;
  return typeof v;
}

function isTensor(v: PickleValue): v is TorchFileTensor {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'kind' in v && v.kind === 'tensor';
}

function isFlatTensorDict(v: PickleValue): boolean {
  return v instanceof Map && v.size > 0 && [...v.values()].every(isTensor);
}

/** A dict whose values include at least one tensor and otherwise only tensors or nested such dicts. */
function isTensorDict(v: PickleValue): boolean {
  if (!(v instanceof Map) || v.size === 0) return false;
  let any = false;
  for (const x of v.values()) {
    if (isTensor(x)) any = true;
    else if (x instanceof Map && isTensorDict(x)) any = true;
    else return false;
  }
  return any;
}

function collectTensors(v: PickleValue, prefix: string, out: Map<string, TorchFileTensor>): void {
  if (isTensor(v)) {
    out.set(prefix.slice(0, -1), v);
  } else if (v instanceof Map) {
    for (const [k, x] of v)
      if (typeof k === 'string' || typeof k === 'number') collectTensors(x, `${prefix}${k}.`, out);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => collectTensors(x, `${prefix}${i}.`, out));
  }
}

// ---------------------------------------------------------------------------------------------
// The pickle interpreter (opcodes from CPython Lib/pickle.py / pickletools.py)

const MARK = Symbol('mark');
type StackItem = PickleValue | GlobalRef | StorageRef | typeof MARK;

class Unpickler {
  private pos = 0;
  private readonly stack: StackItem[] = [];
  private readonly memo = new Map<number, StackItem>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
    private readonly storage: (key: string) => Uint8Array,
    private readonly allowUnknown: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(problem: string): never {
    throw new WeightsError(this.source, `data.pkl: ${problem}`);
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.byteLength) this.fail(`truncated at byte ${this.pos}`);
  }
  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }
  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('length too large');
    return Number(v);
  }
  private take(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`unterminated text line at byte ${this.pos}`);
    const s = textDecoder.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private pop(): StackItem {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop()!;
  }
  private popValue(): PickleValue {
    const v = this.pop();
    if (v === MARK) this.fail('unexpected MARK');
    return v as PickleValue;
  }
  private popMark(): StackItem[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i < 0) this.fail('MARK not found');
    const items = this.stack.splice(i);
    items.shift();
    return items;
  }
  private top(): StackItem {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1]!;
  }

  private global(module: string, name: string): GlobalRef {
    const full = `${module}.${name}`;
    if (!isAllowedGlobal(full) && !this.allowUnknown) {
      this.fail(
        `refusing to load global '${full}' (only torch tensors, storages and (Ordered)dicts are allowed; nothing is executed)`,
      );
    }
    return { kind: 'global', name: full };
  }

  load(): PickleValue {
    for (;;) {
      const op = this.u8();
      switch (op) {
        case 0x80: // PROTO
          this.u8();
          break;
        case 0x95: // FRAME
          this.u64();
          break;
        case 0x2e: // STOP '.'
          return this.popValue();
        case 0x28: // MARK '('
          this.stack.push(MARK);
          break;
        case 0x30: // POP '0'
          this.pop();
          break;
        case 0x31: // POP_MARK '1'
          this.popMark();
          break;
        case 0x32: // DUP '2'
          this.stack.push(this.top());
          break;
        case 0x4e: // NONE 'N'
          this.stack.push(null);
          break;
        case 0x88: // NEWTRUE
          this.stack.push(true);
          break;
        case 0x89: // NEWFALSE
          this.stack.push(false);
          break;
        case 0x49: {
          // INT 'I' (text; "00"/"01" are False/True)
          const s = this.line();
          this.stack.push(s === '00' ? false : s === '01' ? true : intValue(BigInt(s)));
          break;
        }
        case 0x4a: // BININT 'J'
          this.stack.push(this.i32());
          break;
        case 0x4b: // BININT1 'K'
          this.stack.push(this.u8());
          break;
        case 0x4d: // BININT2 'M'
          this.stack.push(this.u16());
          break;
        case 0x4c: // LONG 'L' (text, trailing 'L')
          this.stack.push(intValue(BigInt(this.line().replace(/L$/, ''))));
          break;
        case 0x8a: // LONG1
          this.stack.push(intValue(decodeLong(this.take(this.u8()))));
          break;
        case 0x8b: // LONG4
          this.stack.push(intValue(decodeLong(this.take(this.u32()))));
          break;
        case 0x47: {
          // BINFLOAT 'G' (big-endian double)
          this.need(8);
          this.stack.push(this.view.getFloat64(this.pos, false));
          this.pos += 8;
          break;
        }
        case 0x46: // FLOAT 'F'
          this.stack.push(parseFloat(this.line()));
          break;
        case 0x53: // STRING 'S' (repr of a str)
          this.stack.push(parseStringRepr(this.line()));
          break;
        case 0x54: // BINSTRING 'T'
          this.stack.push(latin1(this.take(this.i32())));
          break;
        case 0x55: // SHORT_BINSTRING 'U'
          this.stack.push(latin1(this.take(this.u8())));
          break;
        case 0x58: // BINUNICODE 'X'
          this.stack.push(textDecoder.decode(this.take(this.u32())));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.stack.push(textDecoder.decode(this.take(this.u8())));
          break;
        case 0x8d: // BINUNICODE8
          this.stack.push(textDecoder.decode(this.take(this.u64())));
          break;
        case 0x56: // UNICODE 'V' (raw-unicode-escape)
          this.stack.push(
            this.line().replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
          );
          break;
        case 0x42: // BINBYTES 'B'
          this.stack.push(this.take(this.u32()).slice());
          break;
        case 0x43: // SHORT_BINBYTES 'C'
          this.stack.push(this.take(this.u8()).slice());
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.stack.push(this.take(this.u64()).slice());
          break;
        case 0x5d: // EMPTY_LIST ']'
          this.stack.push([]);
          break;
        case 0x6c: // LIST 'l'
          this.stack.push(this.popMark() as PickleValue[]);
          break;
        case 0x61: {
          // APPEND 'a'
          const v = this.popValue();
          this.listAt(this.top()).push(v);
          break;
        }
        case 0x65: {
          // APPENDS 'e'
          const items = this.popMark() as PickleValue[];
          this.listAt(this.top()).push(...items);
          break;
        }
        case 0x29: // EMPTY_TUPLE ')'
          this.stack.push([]);
          break;
        case 0x74: // TUPLE 't'
          this.stack.push(this.popMark() as PickleValue[]);
          break;
        case 0x85: // TUPLE1
          this.stack.push([this.popValue()]);
          break;
        case 0x86: {
          // TUPLE2
          const b = this.popValue();
          const a = this.popValue();
          this.stack.push([a, b]);
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.popValue();
          const b = this.popValue();
          const a = this.popValue();
          this.stack.push([a, b, c]);
          break;
        }
        case 0x7d: // EMPTY_DICT '}'
          this.stack.push(new Map());
          break;
        case 0x64: {
          // DICT 'd'
          const items = this.popMark();
          const d = new Map<PickleKey, PickleValue>();
          for (let i = 0; i + 1 < items.length; i += 2) d.set(this.key(items[i]!), items[i + 1] as PickleValue);
          this.stack.push(d);
          break;
        }
        case 0x73: {
          // SETITEM 's'
          const v = this.popValue();
          const k = this.popValue();
          this.dictAt(this.top()).set(this.key(k), v);
          break;
        }
        case 0x75: {
          // SETITEMS 'u'
          const items = this.popMark();
          const d = this.dictAt(this.top());
          for (let i = 0; i + 1 < items.length; i += 2) d.set(this.key(items[i]!), items[i + 1] as PickleValue);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.stack.push(new Set());
          break;
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail('ADDITEMS on a non-set');
          for (const x of items) s.add(this.key(x));
          break;
        }
        case 0x91: // FROZENSET
          this.stack.push(new Set(this.popMark().map((x) => this.key(x))));
          break;
        case 0x63: {
          // GLOBAL 'c'
          const module = this.line();
          const name = this.line();
          this.stack.push(this.global(module, name));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.popValue();
          const module = this.popValue();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings');
          this.stack.push(this.global(module, name));
          break;
        }
        case 0x52: {
          // REDUCE 'R'
          const args = this.popValue();
          const fn = this.pop();
          if (!Array.isArray(args)) this.fail('REDUCE arguments are not a tuple');
          this.stack.push(this.call(fn, args));
          break;
        }
        case 0x81: {
          // NEWOBJ: cls.__new__(cls, *args)
          const args = this.popValue();
          const cls = this.pop();
          this.stack.push(this.call(cls, Array.isArray(args) ? args : []));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          this.popValue(); // kwargs
          const args = this.popValue();
          const cls = this.pop();
          this.stack.push(this.call(cls, Array.isArray(args) ? args : []));
          break;
        }
        case 0x69: {
          // INST 'i'
          const g = this.global(this.line(), this.line());
          this.stack.push(this.call(g, this.popMark() as PickleValue[]));
          break;
        }
        case 0x6f: {
          // OBJ 'o'
          const items = this.popMark();
          const cls = items.shift();
          this.stack.push(this.call(cls ?? null, items as PickleValue[]));
          break;
        }
        case 0x62: {
          // BUILD 'b': obj.__setstate__(state) / obj.__dict__.update(state)
          const state = this.popValue();
          const obj = this.top();
          // OrderedDict state (e.g. state_dict()._metadata) carries no tensors: dropped.
          if (
            typeof obj === 'object' &&
            obj !== null &&
            !Array.isArray(obj) &&
            'kind' in obj &&
            obj.kind === 'opaque'
          ) {
            obj.state = state;
          }
          break;
        }
        case 0x70: // PUT 'p'
          this.memo.set(Number(this.line()), this.top());
          break;
        case 0x71: // BINPUT 'q'
          this.memo.set(this.u8(), this.top());
          break;
        case 0x72: // LONG_BINPUT 'r'
          this.memo.set(this.u32(), this.top());
          break;
        case 0x94: // MEMOIZE
          this.memo.set(this.memo.size, this.top());
          break;
        case 0x67: // GET 'g'
          this.stack.push(this.memoGet(Number(this.line())));
          break;
        case 0x68: // BINGET 'h'
          this.stack.push(this.memoGet(this.u8()));
          break;
        case 0x6a: // LONG_BINGET 'j'
          this.stack.push(this.memoGet(this.u32()));
          break;
        case 0x50: // PERSID 'P'
          this.stack.push(this.persistentLoad([this.line()]));
          break;
        case 0x51: {
          // BINPERSID 'Q'
          const pid = this.popValue();
          if (!Array.isArray(pid)) this.fail('persistent id is not a tuple');
          this.stack.push(this.persistentLoad(pid));
          break;
        }
        default:
          this.fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${this.pos - 1}`);
      }
    }
  }

  private memoGet(i: number): StackItem {
    if (!this.memo.has(i)) this.fail(`memo entry ${i} not found`);
    return this.memo.get(i)!;
  }

  private key(k: StackItem): PickleKey {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean')
      return k;
    if (Array.isArray(k)) return JSON.stringify(k, (_, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
    this.fail('unsupported dict key type');
  }

  private listAt(v: StackItem): PickleValue[] {
    if (!Array.isArray(v)) this.fail('APPEND on a non-list');
    return v;
  }

  private dictAt(v: StackItem): Map<PickleKey, PickleValue> {
    if (!(v instanceof Map)) this.fail('SETITEM on a non-dict');
    return v;
  }

  /** `persistent_load` of `torch.serialization._load`: `('storage', type, key, location, numel)`. */
  private persistentLoad(pid: PickleValue[]): StorageRef {
    const [tag, type, key, , numel] = pid as unknown[];
    if (tag !== 'storage') this.fail(`unsupported persistent id '${String(tag)}'`);
    const t = type as GlobalRef | undefined;
    const dtype = t?.kind === 'global' ? STORAGE_DTYPES[t.name] : undefined;
    if (!dtype) this.fail(`unsupported storage type '${t?.name ?? String(type)}'`);
    if (typeof key !== 'string' || typeof numel !== 'number') this.fail('malformed storage persistent id');
    return { kind: 'storage', dtype, key, numel };
  }

  private call(fn: StackItem, args: PickleValue[]): PickleValue {
    if (typeof fn !== 'object' || fn === null || !('kind' in fn) || fn.kind !== 'global') {
      this.fail('REDUCE target is not a global');
    }
    switch (fn.name) {
      case 'collections.OrderedDict':
      case 'builtins.dict': {
        const m = new Map<PickleKey, PickleValue>();
        const init = args[0];
        if (Array.isArray(init)) for (const kv of init) if (Array.isArray(kv)) m.set(this.key(kv[0]!), kv[1]!);
        if (init instanceof Map) for (const [k, v] of init) m.set(k, v);
        return m;
      }
      case 'builtins.list':
      case 'builtins.tuple':
        return Array.isArray(args[0]) ? [...args[0]] : [];
      case 'builtins.set':
        return new Set(Array.isArray(args[0]) ? args[0].map((x) => this.key(x)) : []);
      case 'torch._utils._rebuild_tensor':
        // (storage, storage_offset, size, stride)
        return this.rebuildTensor(args[0], args[1], args[2], args[3], false);
      case 'torch._utils._rebuild_tensor_v3': {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
        const d = args[6] as unknown as GlobalRef | undefined;
        const dtype = d?.kind === 'global' ? TORCH_DTYPES[d.name] : undefined;
        if (!dtype) this.fail(`unsupported tensor dtype '${d?.name ?? String(args[6])}'`);
        return this.rebuildTensor(args[0], args[1], args[2], args[3], args[4] === true, dtype);
      }
      case 'torch._utils._rebuild_tensor_v2':
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        return this.rebuildTensor(args[0], args[1], args[2], args[3], args[4] === true);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        // (data, requires_grad, backward_hooks[, state])
        const t = args[0];
        if (!isTensor(t)) this.fail('_rebuild_parameter without a tensor');
        t.requiresGrad = args[1] === true;
        return t;
      }
      case 'torch._tensor._rebuild_from_type_v2': {
        // (func, new_type, args, state): func(*args), then the subclass type is dropped.
        const inner = args[2];
        return this.call(args[0] as StackItem, Array.isArray(inner) ? inner : []);
      }
      default:
        if (this.allowUnknown || TYPE_GLOBALS.has(fn.name)) return { kind: 'opaque', global: fn.name, args };
        this.fail(`refusing to call '${fn.name}'`);
    }
  }

  /** `_rebuild_tensor`: a contiguous copy of the strided view `storage[offset + Σ iₖ·strideₖ]`. */
  private rebuildTensor(
    storage: unknown,
    offset: unknown,
    size: unknown,
    stride: unknown,
    requiresGrad: boolean,
    dtypeOverride?: SafetensorsDtype,
  ): TorchFileTensor {
    const st = storage as StorageRef;
    if (st?.kind !== 'storage') this.fail('tensor rebuilt from a non-storage');
    // A v3 tensor views an untyped (byte) storage as `dtypeOverride`: count its elements in that type.
    const s: StorageRef = dtypeOverride
      ? {
          ...st,
          dtype: dtypeOverride,
          numel: Math.floor((st.numel * DTYPE_BYTES[st.dtype]) / DTYPE_BYTES[dtypeOverride]),
        }
      : st;
    if (typeof offset !== 'number' || !Array.isArray(size) || !Array.isArray(stride) || size.length !== stride.length) {
      this.fail('malformed tensor arguments');
    }
    const shape = size.map(Number);
    const strides = stride.map(Number);
    const es = DTYPE_BYTES[s.dtype];
    const raw = this.storage(s.key);
    if (raw.byteLength < s.numel * es) {
      this.fail(`storage '${s.key}' has ${raw.byteLength} bytes, expected ${s.numel} × ${es}`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const out = new Uint8Array(count * es);
    if (count > 0) {
      let maxIndex = offset;
      for (let d = 0; d < shape.length; d++) maxIndex += (shape[d]! - 1) * strides[d]!;
      if (offset < 0 || maxIndex >= s.numel || strides.some((x) => x < 0)) {
        this.fail(
          `tensor view (offset ${offset}, size [${shape}], stride [${strides}]) exceeds storage '${s.key}' of ${s.numel} elements`,
        );
      }
      const contiguous = strides.every(
        (st, d) => st === shape.slice(d + 1).reduce((a, b) => a * b, 1) || shape[d] === 1,
      );
      if (contiguous) {
        out.set(raw.subarray(offset * es, (offset + count) * es));
      } else {
        // Odometer over the multi-index, last axis fastest.
        const idx = new Array<number>(shape.length).fill(0);
        let src = offset;
        for (let i = 0; i < count; i++) {
          out.set(raw.subarray(src * es, (src + 1) * es), i * es);
          for (let d = shape.length - 1; d >= 0; d--) {
            idx[d]!++;
            src += strides[d]!;
            if (idx[d]! < shape[d]!) break;
            src -= idx[d]! * strides[d]!;
            idx[d] = 0;
          }
        }
      }
    }
    return { kind: 'tensor', dtype: s.dtype, shape, data: decodeTensorBytes(s.dtype, out, count), requiresGrad };
  }
}

function intValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Little-endian two's-complement integer (pickle `LONG1`/`LONG4`). */
function decodeLong(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

function parseStringRepr(s: string): string {
  const q = s[0];
  if ((q === "'" || q === '"') && s.endsWith(q)) s = s.slice(1, -1);
  return s.replace(/\\(x[0-9a-fA-F]{2}|n|t|r|\\|'|")/g, (_, e: string) =>
    e[0] === 'x'
      ? String.fromCharCode(parseInt(e.slice(1), 16))
      : (({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[e] ?? e),
  );
}
