/**
 * Adam and AdamW for `tf.Variable`s, with exactly torch.optim's update formulas, and gradient
 * clipping with torch.nn.utils.clip_grad_norm_ semantics.
 *
 * torch/optim/adam.py `_single_tensor_adam` (AdamW: torch/optim/adamw.py, decoupled decay):
 *   t ← t + 1
 *   AdamW: θ ← θ · (1 − lr·λ)                        (decoupled weight decay, Loshchilov & Hutter)
 *   Adam:  g ← g + λ·θ                               (L2 penalty in the gradient)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 * Bias corrections are computed in float64 on the host; tensors are float32.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, ConfigError, checkConfigKeys } from '../errors.js';

/** Parameters as a list (named by `variable.name`) or a map of names to variables. */
export type Params = tf.Variable[] | Record<string, tf.Variable>;
/** Gradients keyed by parameter name (or by `variable.name`, as `tf.variableGrads` returns), or in parameter order. */
export type Grads = Record<string, tf.Tensor> | tf.Tensor[];

export interface AdamConfig {
  /** Learning rate (torch `lr`). */
  lr: number;
  /** (β1, β2) (torch `betas`). */
  betas: [number, number];
  /** ε added to the bias-corrected √v (torch `eps`). */
  eps: number;
  /** λ (torch `weight_decay`): L2 in the gradient for Adam, decoupled for AdamW. */
  weightDecay: number;
  /** Keep the running maximum of v (torch `amsgrad`). */
  amsgrad: boolean;
}

/** Serialisable optimizer state: plain numbers plus tensors owned by the caller. */
export interface AdamState {
  step: number;
  /** First moments m, by parameter name. */
  expAvg: Record<string, tf.Tensor>;
  /** Second moments v, by parameter name. */
  expAvgSq: Record<string, tf.Tensor>;
  /** Running max of v (amsgrad only). */
  maxExpAvgSq?: Record<string, tf.Tensor>;
}

const ADAM_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad'] as const;

function namedParams(params: Params): [string, tf.Variable][] {
  const entries: [string, tf.Variable][] = Array.isArray(params)
    ? params.map((v) => [v.name, v] as [string, tf.Variable])
    : Object.entries(params);
  const seen = new Set<string>();
  for (const [name, v] of entries) {
    if (!(v instanceof tf.Variable)) throw new ArgumentError(`params.${name}`, 'expected a tf.Variable');
    if (v.dtype !== 'float32') throw new ArgumentError(`params.${name}`, `expected float32, got ${v.dtype}`);
    if (seen.has(name)) throw new ArgumentError('params', `duplicate parameter name '${name}'`);
    seen.add(name);
  }
  return entries;
}

function gradFor(grads: Grads, index: number, name: string, v: tf.Variable): tf.Tensor | undefined {
  const g = Array.isArray(grads) ? grads[index] : (grads[name] ?? grads[v.name]);
  if (g != null && (g.shape.length !== v.shape.length || g.shape.some((s, i) => s !== v.shape[i]))) {
    throw new ArgumentError(
      `grads.${name}`,
      `shape [${g.shape.join(', ')}] does not match the parameter [${v.shape.join(', ')}]`,
    );
  }
  return g;
}

/** torch.optim.Adam. */
export class Adam {
  readonly config: AdamConfig;
  /** Number of steps taken (torch `state['step']`). */
  stepCount = 0;
  protected readonly params: [string, tf.Variable][];
  protected readonly m = new Map<string, tf.Variable>();
  protected readonly v = new Map<string, tf.Variable>();
  protected readonly vMax = new Map<string, tf.Variable>();
  protected readonly decoupled: boolean = false;

  constructor(params: Params, config: Partial<AdamConfig> = {}) {
    this.config = { ...this.defaults(), ...config };
    this.validate();
    this.params = namedParams(params);
    for (const [name, p] of this.params) {
      this.m.set(name, zerosVariable(p));
      this.v.set(name, zerosVariable(p));
      if (this.config.amsgrad) this.vMax.set(name, zerosVariable(p));
    }
  }

  protected defaults(): AdamConfig {
    return { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false };
  }

  private validate(): void {
    const c = this.config;
    const name = this.constructor.name;
    if (!(c.lr >= 0)) throw new ConfigError(name, 'lr', `expected lr ≥ 0, got ${c.lr}`);
    if (!(c.eps >= 0)) throw new ConfigError(name, 'eps', `expected eps ≥ 0, got ${c.eps}`);
    if (!Array.isArray(c.betas) || c.betas.length !== 2 || !c.betas.every((b) => b >= 0 && b < 1)) {
      throw new ConfigError(name, 'betas', `expected two betas in [0, 1), got ${JSON.stringify(c.betas)}`);
    }
    if (!(c.weightDecay >= 0)) throw new ConfigError(name, 'weightDecay', `expected ≥ 0, got ${c.weightDecay}`);
  }

  /** Current learning rate (settable, e.g. by a schedule). */
  get lr(): number {
    return this.config.lr;
  }
  set lr(value: number) {
    if (!(value >= 0)) throw new ArgumentError('lr', `expected ≥ 0, got ${value}`);
    this.config.lr = value;
  }

  /** Applies one update. Parameters without a gradient are skipped (as torch skips `grad is None`). */
  step(grads: Grads): void {
    this.stepCount += 1;
    const t = this.stepCount;
    const { lr, betas, eps, weightDecay, amsgrad } = this.config;
    const [b1, b2] = betas;
    const bc1 = 1 - Math.pow(b1, t);
    const bc2Sqrt = Math.sqrt(1 - Math.pow(b2, t));
    const stepSize = lr / bc1;
    tf.tidy(() => {
      this.params.forEach(([name, p], i) => {
        let g = gradFor(grads, i, name, p);
        if (g == null) return;
        if (this.decoupled) {
          if (weightDecay !== 0) p.assign(tf.mul(p, 1 - lr * weightDecay));
        } else if (weightDecay !== 0) {
          g = tf.add(g, tf.mul(p, weightDecay));
        }
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        let vHat: tf.Tensor = v;
        if (amsgrad) {
          const vm = this.vMax.get(name)!;
          vm.assign(tf.maximum(vm, v));
          vHat = vm;
        }
        const denom = tf.add(tf.div(tf.sqrt(vHat), bc2Sqrt), eps);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
      });
    });
  }

  /** A snapshot of the state; the tensors are new and owned by the caller. */
  getState(): AdamState {
    const clone = (map: Map<string, tf.Variable>): Record<string, tf.Tensor> =>
      Object.fromEntries([...map].map(([k, v]) => [k, tf.clone(v)]));
    const state: AdamState = { step: this.stepCount, expAvg: clone(this.m), expAvgSq: clone(this.v) };
    if (this.config.amsgrad) state.maxExpAvgSq = clone(this.vMax);
    return state;
  }

  /** Restores a state from {@link getState} (values are copied; the caller keeps its tensors). */
  setState(state: AdamState): void {
    if (!Number.isInteger(state.step) || state.step < 0)
      throw new ArgumentError('state.step', `expected an integer ≥ 0, got ${state.step}`);
    const load = (
      map: Map<string, tf.Variable>,
      values: Record<string, tf.Tensor> | undefined,
      field: string,
    ): void => {
      for (const [name, target] of map) {
        const value = values?.[name];
        if (value == null) throw new ArgumentError(`state.${field}.${name}`, 'missing');
        if (value.shape.join() !== target.shape.join()) {
          throw new ArgumentError(
            `state.${field}.${name}`,
            `shape [${value.shape.join(', ')}] ≠ [${target.shape.join(', ')}]`,
          );
        }
      }
      for (const [name, target] of map) tf.tidy(() => target.assign(tf.cast(values![name]!, 'float32')));
    };
    load(this.m, state.expAvg, 'expAvg');
    load(this.v, state.expAvgSq, 'expAvgSq');
    if (this.config.amsgrad) load(this.vMax, state.maxExpAvgSq, 'maxExpAvgSq');
    this.stepCount = state.step;
  }

  toConfig(): AdamConfig {
    return { ...this.config, betas: [...this.config.betas] };
  }

  /** Releases the moment tensors. */
  dispose(): void {
    for (const map of [this.m, this.v, this.vMax]) {
      for (const t of map.values()) t.dispose();
      map.clear();
    }
  }

  static fromConfig(params: Params, config: unknown): Adam {
    checkConfigKeys('Adam', config, ADAM_KEYS);
    return new Adam(params, config as Partial<AdamConfig>);
  }
}

/** torch.optim.AdamW: decoupled weight decay θ ← θ·(1 − lr·λ) before the Adam step; default λ = 0.01. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  protected override defaults(): AdamConfig {
    return { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false };
  }

  static override fromConfig(params: Params, config: unknown): AdamW {
    checkConfigKeys('AdamW', config, ADAM_KEYS);
    return new AdamW(params, config as Partial<AdamConfig>);
  }
}

export interface ClipResult<G extends Grads> {
  /** The clipped gradients (new tensors, caller-owned), in the same form as the input. */
  grads: G;
  /** The total norm before clipping (a float32 scalar, caller-owned). */
  totalNorm: tf.Scalar;
}

/**
 * torch.nn.utils.clip_grad_norm_: total = ‖(‖g_1‖, …, ‖g_n‖)‖ (p-norm, p = 2 or ∞),
 * every gradient is multiplied by min(1, maxNorm / (total + 1e-6)). No host read: the result
 * stays on the device. Input gradients are not modified or disposed.
 */
export function clipGradNorm<G extends Grads>(
  grads: G,
  maxNorm: number,
  normType: 2 | typeof Infinity = 2,
): ClipResult<G> {
  if (!(maxNorm >= 0)) throw new ArgumentError('maxNorm', `expected ≥ 0, got ${maxNorm}`);
  if (normType !== 2 && normType !== Infinity)
    throw new ArgumentError('normType', `expected 2 or Infinity, got ${normType}`);
  const entries: [string, tf.Tensor][] = Array.isArray(grads)
    ? grads.map((g, i) => [String(i), g] as [string, tf.Tensor])
    : Object.entries(grads);
  return tf.tidy(() => {
    const totalNorm =
      entries.length === 0
        ? tf.scalar(0)
        : normType === Infinity
          ? tf.max(tf.stack(entries.map(([, g]) => tf.max(tf.abs(g)))))
          : tf.sqrt(tf.addN(entries.map(([, g]) => tf.sum(tf.square(g)))));
    const coef = tf.minimum(tf.div(maxNorm, tf.add(totalNorm, 1e-6)), 1);
    const clipped = entries.map(([k, g]) => [k, tf.mul(g, coef)] as [string, tf.Tensor]);
    const out = (Array.isArray(grads) ? clipped.map(([, g]) => g) : Object.fromEntries(clipped)) as G;
    return { grads: out, totalNorm: totalNorm as tf.Scalar } as unknown as tf.TensorContainer;
  }) as unknown as ClipResult<G>;
}

/** A non-trainable zero variable shaped like `p` (the initial tensor is released, only the variable stays). */
function zerosVariable(p: tf.Tensor): tf.Variable {
  const init = tf.zerosLike(p);
  const v = tf.variable(init, false);
  init.dispose();
  return v;
}
