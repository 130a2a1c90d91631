/**
 * Exponential moving average of model weights.
 *
 * Update (guided-diffusion `nn.py` update_ema; diffusers `EMAModel.step`):
 *   θ_ema ← d·θ_ema + (1 − d)·θ      (diffusers writes it as θ_ema −= (1 − d)(θ_ema − θ))
 * with the decay d of step n (diffusers `EMAModel.get_decay`, n = number of `update` calls):
 *   s = max(0, n − updateAfterStep − 1); d = 0 while s ≤ 0 (the EMA copies the weights), else
 *   warmup 'none'     : d = decay                                  (guided-diffusion `ema_rate`)
 *   warmup 'diffusers': d = min(decay, (1 + s) / (10 + s))          (diffusers, use_ema_warmup=False)
 *   warmup 'power'    : d = min(decay, 1 − (1 + s / invGamma)^−power) (diffusers, use_ema_warmup=True)
 *   and d = max(d, minDecay).
 * For warmup 'none' the first-step copy is skipped too, exactly as guided-diffusion (it
 * initialises the EMA as a copy of the weights and applies the fixed rate from the first step).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, ConfigError, checkConfigKeys } from '../errors.js';
import type { Params } from './optimizers.js';

export interface EMAConfig {
  /** Target decay (guided-diffusion `ema_rate`, diffusers `decay`). */
  decay: number;
  /** Decay warm-up, see the module comment. */
  warmup: 'none' | 'diffusers' | 'power';
  /** diffusers `update_after_step`. */
  updateAfterStep: number;
  /** diffusers `min_decay`. */
  minDecay: number;
  /** diffusers `inv_gamma` (warmup 'power'). */
  invGamma: number;
  /** diffusers `power` (warmup 'power'). */
  power: number;
}

export interface EMAState {
  /** Number of `update` calls (diffusers `optimization_step`). */
  step: number;
  /** Shadow weights by parameter name (caller-owned tensors). */
  shadow: Record<string, tf.Tensor>;
}

const EMA_KEYS = ['decay', 'warmup', 'updateAfterStep', 'minDecay', 'invGamma', 'power'] as const;

export class EMA {
  readonly config: EMAConfig;
  step = 0;
  private readonly params: [string, tf.Variable][];
  private readonly shadowVars = new Map<string, tf.Variable>();

  /** Starts the shadow weights as copies of `params`. */
  constructor(params: Params, config: Partial<EMAConfig> = {}) {
    this.config = {
      decay: 0.9999,
      warmup: 'none',
      updateAfterStep: 0,
      minDecay: 0,
      invGamma: 1,
      power: 2 / 3,
      ...config,
    };
    const c = this.config;
    if (!(c.decay >= 0 && c.decay <= 1))
      throw new ConfigError('EMA', 'decay', `expected a value in [0, 1], got ${c.decay}`);
    if (!['none', 'diffusers', 'power'].includes(c.warmup)) {
      throw new ConfigError('EMA', 'warmup', `expected 'none', 'diffusers' or 'power', got ${String(c.warmup)}`);
    }
    if (!Number.isInteger(c.updateAfterStep) || c.updateAfterStep < 0) {
      throw new ConfigError('EMA', 'updateAfterStep', `expected an integer ≥ 0, got ${c.updateAfterStep}`);
    }
    if (!(c.invGamma > 0)) throw new ConfigError('EMA', 'invGamma', `expected > 0, got ${c.invGamma}`);
    this.params = Array.isArray(params)
      ? params.map((v) => [v.name, v] as [string, tf.Variable])
      : Object.entries(params);
    for (const [name, p] of this.params) {
      const init = tf.clone(p);
      this.shadowVars.set(name, tf.variable(init, false));
      init.dispose(); // tf.variable copies; keep only the variable
    }
  }

  /** The decay used by update number `n` (1-based), diffusers `get_decay`. */
  decayAt(n: number): number {
    const { decay, warmup, updateAfterStep, minDecay, invGamma, power } = this.config;
    if (warmup === 'none') return decay;
    const s = Math.max(0, n - updateAfterStep - 1);
    if (s <= 0) return 0;
    const d = warmup === 'power' ? 1 - Math.pow(1 + s / invGamma, -power) : (1 + s) / (10 + s);
    return Math.max(Math.min(d, decay), minDecay);
  }

  /** θ_ema ← d·θ_ema + (1 − d)·θ for every parameter; returns the decay used. */
  update(): number {
    this.step += 1;
    const d = this.decayAt(this.step);
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const s = this.shadowVars.get(name)!;
        s.assign(tf.add(tf.mul(s, d), tf.mul(p, 1 - d)));
      }
    });
    return d;
  }

  /** The shadow weights (owned by the EMA; do not dispose). */
  get shadow(): Record<string, tf.Variable> {
    return Object.fromEntries(this.shadowVars);
  }

  /** Writes the EMA weights into `params` (default: the tracked parameters), e.g. for evaluation. */
  copyTo(params?: Params): void {
    const targets = params
      ? Array.isArray(params)
        ? params.map((v) => [v.name, v] as [string, tf.Variable])
        : Object.entries(params)
      : this.params;
    for (const [name, p] of targets) {
      const s = this.shadowVars.get(name);
      if (!s) throw new ArgumentError(`params.${name}`, 'not tracked by this EMA');
      p.assign(s);
    }
  }

  getState(): EMAState {
    return { step: this.step, shadow: Object.fromEntries([...this.shadowVars].map(([k, v]) => [k, tf.clone(v)])) };
  }

  setState(state: EMAState): void {
    if (!Number.isInteger(state.step) || state.step < 0)
      throw new ArgumentError('state.step', `expected an integer ≥ 0, got ${state.step}`);
    for (const [name, s] of this.shadowVars) {
      const v = state.shadow?.[name];
      if (v == null) throw new ArgumentError(`state.shadow.${name}`, 'missing');
      if (v.shape.join() !== s.shape.join())
        throw new ArgumentError(`state.shadow.${name}`, `shape [${v.shape.join(', ')}] ≠ [${s.shape.join(', ')}]`);
    }
    for (const [name, s] of this.shadowVars) tf.tidy(() => s.assign(tf.cast(state.shadow[name]!, 'float32')));
    this.step = state.step;
  }

  toConfig(): EMAConfig {
    return { ...this.config };
  }

  static fromConfig(params: Params, config: unknown): EMA {
    checkConfigKeys('EMA', config, EMA_KEYS);
    return new EMA(params, config as Partial<EMAConfig>);
  }

  dispose(): void {
    for (const s of this.shadowVars.values()) s.dispose();
    this.shadowVars.clear();
  }
}
