/**
 * Minimal module system for ADX networks (a tfjs-core-only analogue of torch.nn.Module).
 *
 * Parameters are registered under the **PyTorch state_dict key** of the official implementation
 * (e.g. `input_blocks.0.0.weight`), so importing official weights is a name-for-name copy plus a
 * layout conversion declared per parameter ({@link TorchLayout}). Tensors inside ADX are NHWC and
 * weights are stored in the layout tfjs kernels want: conv2d HWIO, dense `[in, out]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';

/**
 * How a parameter is laid out in PyTorch, which fixes the conversion to/from the ADX layout:
 * - `conv2d`: torch OIHW `[out, in, kh, kw]` ↔ ADX HWIO `[kh, kw, in, out]`
 * - `linear`: torch `[out, in]` ↔ ADX `[in, out]`
 * - `conv1dK1`: torch kernel-1 Conv1d `[out, in, 1]` ↔ ADX `[in, out]` (a per-token linear)
 * - `identity`: same layout (biases, norm vectors, embeddings, positional tables)
 */
export type TorchLayout = 'conv2d' | 'linear' | 'conv1dK1' | 'identity';

export interface Parameter {
  variable: tf.Variable;
  torchLayout: TorchLayout;
  /** False for buffers such as BatchNorm running statistics. */
  trainable: boolean;
}

export abstract class Module {
  private readonly _params = new Map<string, Parameter>();
  private readonly _children = new Map<string, Module>();

  /** Registers a parameter (takes ownership of `init`). */
  protected addParameter(
    name: string,
    init: tf.Tensor,
    torchLayout: TorchLayout = 'identity',
    trainable = true,
  ): tf.Variable {
    if (this._params.has(name) || this._children.has(name)) throw new Error(`duplicate parameter name '${name}'`);
    const variable = tf.variable(init, trainable);
    init.dispose();
    this._params.set(name, { variable, torchLayout, trainable });
    return variable;
  }

  /** Registers a non-trainable buffer (e.g. BatchNorm running mean). */
  protected addBuffer(name: string, init: tf.Tensor): tf.Variable {
    return this.addParameter(name, init, 'identity', false);
  }

  /** Registers a child module under `name` (a PyTorch attribute name or a ModuleList index). */
  protected addModule<M extends Module>(name: string | number, module: M): M {
    const key = String(name);
    if (this._params.has(key) || this._children.has(key)) throw new Error(`duplicate module name '${key}'`);
    this._children.set(key, module);
    return module;
  }

  /** All parameters and buffers keyed by their full dotted PyTorch name, in registration order. */
  namedParameters(prefix = ''): Map<string, Parameter> {
    const out = new Map<string, Parameter>();
    for (const [n, p] of this._params) out.set(prefix + n, p);
    for (const [n, m] of this._children) for (const [k, p] of m.namedParameters(`${prefix}${n}.`)) out.set(k, p);
    return out;
  }

  /** Trainable variables, in registration order. */
  trainableVariables(): tf.Variable[] {
    return [...this.namedParameters().values()].filter((p) => p.trainable).map((p) => p.variable);
  }

  /** Number of trainable scalar parameters (PyTorch's `sum(p.numel() for p in parameters())`). */
  numParameters(): number {
    let n = 0;
    for (const p of this.namedParameters().values()) if (p.trainable) n += p.variable.size;
    return n;
  }

  /** Releases every variable of this module and its children. */
  dispose(): void {
    for (const p of this._params.values()) p.variable.dispose();
    for (const m of this._children.values()) m.dispose();
  }
}

/** Converts a PyTorch-layout tensor to the ADX layout (returns a new tensor). */
export function fromTorchLayout(t: tf.Tensor, layout: TorchLayout): tf.Tensor {
  return tf.tidy(() => {
    switch (layout) {
      case 'conv2d':
        return tf.transpose(t, [2, 3, 1, 0]);
      case 'linear':
        return tf.transpose(t, [1, 0]);
      case 'conv1dK1':
        return tf.transpose(tf.squeeze(t, [2]), [1, 0]);
      case 'identity':
        return t.clone();
    }
  });
}

/** Converts an ADX-layout tensor to the PyTorch layout (returns a new tensor). */
export function toTorchLayout(t: tf.Tensor, layout: TorchLayout): tf.Tensor {
  return tf.tidy(() => {
    switch (layout) {
      case 'conv2d':
        return tf.transpose(t, [3, 2, 0, 1]);
      case 'linear':
        return tf.transpose(t, [1, 0]);
      case 'conv1dK1':
        return tf.expandDims(tf.transpose(t, [1, 0]), 2);
      case 'identity':
        return t.clone();
    }
  });
}

/** Shape the PyTorch tensor must have for a parameter of ADX shape `shape`. */
export function torchShape(shape: readonly number[], layout: TorchLayout): number[] {
  switch (layout) {
    case 'conv2d':
      return [shape[3], shape[2], shape[0], shape[1]];
    case 'linear':
      return [shape[1], shape[0]];
    case 'conv1dK1':
      return [shape[1], shape[0], 1];
    case 'identity':
      return [...shape];
  }
}

/**
 * PyTorch's default initialisation for Conv/Linear weights and biases
 * (kaiming_uniform with a = √5 ⇒ U(−1/√fanIn, 1/√fanIn)).
 */
export function torchDefaultInit(rng: SeededRNG, shape: number[], fanIn: number): tf.Tensor {
  if (fanIn <= 0) throw new ArgumentError('fanIn', `must be positive, got ${fanIn}`);
  const bound = 1 / Math.sqrt(fanIn);
  return rng.rand(shape, -bound, bound);
}
