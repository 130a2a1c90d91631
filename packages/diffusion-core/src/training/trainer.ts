/**
 * The ADX training loop: an objective (which owns the networks and computes the loss), Adam or
 * AdamW, optional EMA of the weights, optional gradient clipping, seeded augmentation, data from
 * any (async) iterable, validation with a best checkpoint, progress events, NaN/Inf detection and
 * crash-safe checkpoints that resume bit-identically (cpu backend).
 *
 * One step (guided-diffusion `TrainLoop.run_step`, diffusers `train_unconditional.py`):
 *   1. batch ← augment(batch)                         (host, seeded: `augment` stream)
 *   2. L, ∇θ ← objective.loss(batch) and its gradient (t, noise: `noise` stream; dropout: `dropout` stream)
 *   3. stop with {@link TrainingDivergedError} if L (or ‖∇θ‖ when clipping) is not finite — before
 *      any weight changes, so the weights and the last checkpoint are those of the last good step
 *   4. ∇θ ← clip(∇θ, maxNorm)                           (torch `clip_grad_norm_`, optional)
 *   5. θ ← Adam/AdamW(θ, ∇θ)                             (torch formulas, see optimizers.ts)
 *   6. θ_ema ← EMA(θ_ema, θ)                              (optional, see ema.ts)
 *
 * Checkpoints (see `weights/checkpoint.ts` for the folder layout): `model.safetensors` +
 * `config.json` hold the objective's `model` network (PyTorch keys and layouts), every other
 * network role (e.g. the cDDPM `encoder`) is `<role>.safetensors`; `ema.safetensors` holds the EMA
 * weights (PyTorch layout; keys of other roles prefixed `<role>.`), `optimizer.safetensors` the
 * Adam moments (`exp_avg.<key>`, `exp_avg_sq.<key>`), and `state.json` the step, epoch, position
 * in the epoch, RNG states, optimizer/EMA settings and the objective config. Writing goes through a
 * {@link CheckpointStore}; in Node use `writeFolderAtomic` / `readCheckpointFiles` from
 * `@adx/diffusion-core/node` (temp folder + rename), see {@link folderStoreFrom}.
 *
 * Backends: the constructor calls `registerWasmTrainingKernels()` (idempotent), which registers the
 * gradient functions tfjs-core's Node build lacks, the wasm training kernels, and the cpu
 * `ResizeNearestNeighborGrad` fix — so the same code trains on cpu, wasm and webgpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AdxError, ArgumentError, ConfigError, WeightsError, checkConfigKeys } from '../errors.js';
import { fromTorchLayout, toTorchLayout, type TorchLayout } from '../nn/module.js';
import { SeededRNG, type RNGState } from '../random/rng.js';
import { parseCheckpoint, serializeCheckpoint, type CheckpointFiles } from '../weights/checkpoint.js';
import type { SafetensorsEntry, SafetensorsInput } from '../weights/safetensors.js';
import { loadStateDict } from '../weights/state-dict.js';
import type { Augmentation } from './augment.js';
import {
  epochBatches,
  imageArrayOf,
  isRestartable,
  iterateBatches,
  type BatchInput,
  type TrainingData,
} from './data.js';
import { EMA, type EMAConfig } from './ema.js';
import type { TrainableNetwork, TrainingBatch, TrainingObjective } from './objectives.js';
import { Adam, AdamW, clipGradNorm, type AdamConfig } from './optimizers.js';
import { registerBatchNormGradient } from './batchnorm-grad.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

/** The loss (or gradient norm) became NaN or ±Inf; nothing of that step was applied. */
export class TrainingDivergedError extends AdxError {
  constructor(
    /** The step (1-based) whose loss was not finite. */
    readonly step: number,
    /** What was not finite: 'loss' or 'gradNorm'. */
    readonly quantity: 'loss' | 'gradNorm',
    readonly value: number,
  ) {
    super(
      `Training diverged at step ${step}: ${quantity === 'loss' ? 'the loss' : 'the gradient norm'} is ${value}; ` +
        'the weights and the last checkpoint are those of the last good step',
    );
  }
}

/** Where checkpoints go: named sets of files, written atomically by the implementation. */
export interface CheckpointStore {
  write(name: string, files: Record<string, Uint8Array>): Promise<void>;
  read(name: string): Promise<Record<string, Uint8Array>>;
}

/** An in-memory store (browser, tests). */
export function memoryCheckpointStore(): CheckpointStore & {
  readonly checkpoints: Map<string, Record<string, Uint8Array>>;
} {
  const checkpoints = new Map<string, Record<string, Uint8Array>>();
  return {
    checkpoints,
    write: async (name, files) => {
      checkpoints.set(name, { ...files });
    },
    read: async (name) => {
      const c = checkpoints.get(name);
      if (!c) throw new WeightsError(name, 'no such checkpoint in the store');
      return c;
    },
  };
}

/**
 * A store of checkpoint folders `<root>/<name>` from the Node helpers, e.g.
 * `folderStoreFrom(root, { writeFolderAtomic, readCheckpointFiles }, path.join)` with the
 * functions of `@adx/diffusion-core/node` (atomic: temp folder, fsync, rename).
 */
export function folderStoreFrom(
  root: string,
  io: {
    writeFolderAtomic(dir: string, files: Record<string, Uint8Array>): Promise<void>;
    readCheckpointFiles(dir: string): Promise<Record<string, Uint8Array>>;
  },
  join: (...parts: string[]) => string,
): CheckpointStore {
  return {
    write: (name, files) => io.writeFolderAtomic(join(root, name), files),
    read: (name) => io.readCheckpointFiles(join(root, name)),
  };
}

export interface OptimizerSettings extends AdamConfig {
  /** `adam` (L2 in the gradient) or `adamw` (decoupled weight decay). */
  type: 'adam' | 'adamw';
}

/** Serialisable trainer settings (stored in `state.json`). */
export interface TrainerConfig {
  optimizer: OptimizerSettings;
  /** EMA settings, or null for no EMA. */
  ema: EMAConfig | null;
  /** Max global L2 norm of the gradients, or null for no clipping. */
  gradClipNorm: number | null;
  /** Seed of the trainer's generators (timesteps/noise, augmentation, dropout). */
  seed: number;
  /** Write the `last` checkpoint every this many steps (null: only at the end of `fit`). */
  checkpointEvery: number | null;
}

export interface TrainerOptions {
  objective: TrainingObjective;
  /** Optimizer type and settings (default Adam, lr 1e-4, torch defaults — THOR, Behrendt). */
  optimizer?: Partial<OptimizerSettings>;
  /** EMA of the weights (e.g. `{ decay: 0.9999 }`, Wolleb), or null / omitted for none. */
  ema?: Partial<EMAConfig> | null;
  gradClipNorm?: number | null;
  /** Seeded host augmentation of every batch (e.g. `thorAugmentation()`). Not serialised. */
  augment?: Augmentation | null;
  seed?: number;
  /** Checkpoint destination (none: checkpoints only through {@link Trainer.saveState}). */
  store?: CheckpointStore;
  checkpointEvery?: number | null;
}

const CONFIG_KEYS = ['optimizer', 'ema', 'gradClipNorm', 'seed', 'checkpointEvery'] as const;

export interface ProgressEvent {
  /** Steps done (after this one). */
  step: number;
  /** The step count `fit` runs to, or null when it runs by epochs over data of unknown length. */
  totalSteps: number | null;
  epoch: number;
  /** This step's loss. */
  loss: number;
  /** Mean loss since the previous progress event. */
  meanLoss: number;
  imagesPerSecond: number;
  /** Estimated seconds to `totalSteps` (null when unknown). */
  etaSeconds: number | null;
  elapsedSeconds: number;
}

export interface ValidationEvent {
  step: number;
  value: number;
  /** True when this is the best (lowest) value so far; the `best` checkpoint was written. */
  improved: boolean;
  best: number;
}

export interface FitOptions {
  data: TrainingData;
  /** Train until {@link Trainer.step} reaches this total (diffusers `max_train_steps`). */
  steps?: number;
  /** Train until {@link Trainer.epoch} reaches this total. */
  epochs?: number;
  /** Validation hook: lower is better; the best value writes the `best` checkpoint. */
  validate?: { every: number; fn: (trainer: Trainer) => number | Promise<number> };
  onProgress?: (event: ProgressEvent) => void;
  /** Report progress every this many steps (default 1). */
  progressEvery?: number;
  onValidation?: (event: ValidationEvent) => void;
  onCheckpoint?: (name: string, step: number) => void;
  /** Stops after the current step. */
  signal?: AbortSignal;
}

export interface FitResult {
  step: number;
  epoch: number;
  /** Last step's loss (NaN if no step ran). */
  loss: number;
  /** Best validation value so far, or null. */
  bestValidation: number | null;
  stopped: 'steps' | 'epochs' | 'exhausted' | 'aborted';
}

/** `state.json` of a trainer checkpoint. */
interface TrainerStateJson {
  format: 'adx-trainer';
  version: 1;
  step: number;
  epoch: number;
  batchInEpoch: number;
  imagesSeen: number;
  bestValidation: number | null;
  rng: { noise: RNGState; augment: RNGState; dropout: RNGState };
  trainer: TrainerConfig;
  optimizerStep: number;
  emaStep: number | null;
  objective: Record<string, unknown>;
  networks: Record<string, { className: string }>;
}

interface ParamEntry {
  /** Qualified name: the PyTorch key, prefixed `<role>.` for roles other than `model`. */
  name: string;
  role: string;
  key: string;
  variable: tf.Variable;
  layout: TorchLayout;
}

const NUM_BATCHES_TRACKED = /(^|\.)num_batches_tracked$/;

export class Trainer {
  readonly objective: TrainingObjective;
  readonly config: TrainerConfig;
  readonly optimizer: Adam;
  readonly ema: EMA | null;
  readonly store: CheckpointStore | undefined;
  augment: Augmentation | null;
  /** Optimizer steps taken. */
  step = 0;
  /** Completed epochs. */
  epoch = 0;
  /** Batches consumed in the current epoch. */
  batchInEpoch = 0;
  imagesSeen = 0;
  bestValidation: number | null = null;
  /** Loss of the last step (NaN before the first). */
  lastLoss = NaN;
  private readonly rngs: { noise: SeededRNG; augment: SeededRNG; dropout: SeededRNG };
  private readonly params: ParamEntry[];
  private readonly byVariableName = new Map<string, string>();

  constructor(options: TrainerOptions) {
    checkConfigKeys('Trainer', options, [
      'objective',
      'optimizer',
      'ema',
      'gradClipNorm',
      'augment',
      'seed',
      'store',
      'checkpointEvery',
    ]);
    registerWasmTrainingKernels();
    registerBatchNormGradient();
    this.objective = options.objective;
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new ConfigError('Trainer', 'seed', `expected a safe integer, got ${seed}`);
    const clip = options.gradClipNorm ?? null;
    if (clip !== null && !(clip > 0))
      throw new ConfigError('Trainer', 'gradClipNorm', `expected > 0 or null, got ${clip}`);
    const every = options.checkpointEvery ?? null;
    if (every !== null && !(Number.isInteger(every) && every > 0))
      throw new ConfigError('Trainer', 'checkpointEvery', `expected an integer > 0 or null, got ${every}`);
    const optType = options.optimizer?.type ?? 'adam';
    if (optType !== 'adam' && optType !== 'adamw')
      throw new ConfigError('Trainer', 'optimizer', `type must be 'adam' or 'adamw', got ${String(optType)}`);
    const { type: _t, ...adamOptions } = { lr: 1e-4, ...options.optimizer };
    const params = (this.params = this.collectParams());
    const record = Object.fromEntries(params.map((p) => [p.name, p.variable]));
    // Built inside a tidy: the optimizer and EMA constructors leave the initial-value tensors of
    // their variables (tf.variable(tf.zerosLike(p))) undisposed; the variables themselves survive.
    let optimizer!: Adam;
    let ema = null as EMA | null;
    tf.tidy(() => {
      optimizer = optType === 'adamw' ? new AdamW(record, adamOptions) : new Adam(record, adamOptions);
      ema = options.ema ? new EMA(record, options.ema) : null;
    });
    this.optimizer = optimizer;
    this.ema = ema;
    this.config = {
      optimizer: { type: optType, ...this.optimizer.toConfig() },
      ema: this.ema ? this.ema.toConfig() : null,
      gradClipNorm: clip,
      seed,
      checkpointEvery: every,
    };
    this.store = options.store;
    this.augment = options.augment ?? null;
    const master = new SeededRNG(seed);
    this.rngs = { noise: master.fork(), augment: master.fork(), dropout: master.fork() };
  }

  private collectParams(): ParamEntry[] {
    const nets = this.objective.networks();
    if (!nets.model) throw new ArgumentError('objective', "networks() must contain the role 'model'");
    const out: ParamEntry[] = [];
    for (const [role, net] of Object.entries(nets)) {
      for (const [key, p] of net.namedParameters()) {
        if (!p.trainable) continue;
        const name = role === 'model' ? key : `${role}.${key}`;
        out.push({ name, role, key, variable: p.variable, layout: p.torchLayout });
        this.byVariableName.set(p.variable.name, name);
      }
    }
    return out;
  }

  /** Trainable variables by qualified name. */
  get parameters(): Record<string, tf.Variable> {
    return Object.fromEntries(this.params.map((p) => [p.name, p.variable]));
  }

  /** The generators' states (noise/timesteps, augmentation, dropout). */
  rngStates(): TrainerStateJson['rng'] {
    return {
      noise: this.rngs.noise.getState(),
      augment: this.rngs.augment.getState(),
      dropout: this.rngs.dropout.getState(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // One step

  private async prepareBatch(input: BatchInput): Promise<{ batch: TrainingBatch; owned: tf.Tensor[] }> {
    const owned: tf.Tensor[] = [];
    let image: tf.Tensor4D;
    if (this.augment) {
      const arr = this.augment(await imageArrayOf(input.image), this.rngs.augment);
      image = tf.tensor4d(arr.data, arr.shape);
      owned.push(image);
    } else if (input.image instanceof tf.Tensor) {
      image = input.image;
    } else {
      const arr = await imageArrayOf(input.image);
      image = tf.tensor4d(arr.data, arr.shape);
      owned.push(image);
    }
    const batch: TrainingBatch = { image };
    const B = image.shape[0];
    if (input.label !== undefined) {
      let label: tf.Tensor1D;
      if (input.label instanceof tf.Tensor) label = input.label;
      else {
        label = tf.tensor1d(Array.from(input.label), 'int32');
        owned.push(label);
      }
      if (label.shape[0] !== B) throw new ArgumentError('batch.label', `expected ${B} labels, got ${label.shape[0]}`);
      batch.label = label;
    }
    if (input.condition !== undefined) {
      const c =
        input.condition instanceof tf.Tensor
          ? input.condition
          : tf.tensor2d(input.condition.data, input.condition.shape);
      if (!(input.condition instanceof tf.Tensor)) owned.push(c);
      batch.condition = c;
    }
    return { batch, owned };
  }

  /** Runs one optimisation step on `input`; returns the loss. */
  async trainStep(input: BatchInput): Promise<number> {
    const { batch, owned } = await this.prepareBatch(input);
    const vars = this.params.map((p) => p.variable);
    this.objective.setTraining?.(true);
    let value: tf.Scalar;
    let rawGrads: tf.NamedTensorMap;
    try {
      ({ value, grads: rawGrads } = tf.variableGrads(
        () => this.objective.loss(batch, { rng: this.rngs.noise, dropoutRng: this.rngs.dropout }),
        vars,
      ));
    } finally {
      tf.dispose(owned);
    }
    let grads: Record<string, tf.Tensor> = {};
    for (const [vname, g] of Object.entries(rawGrads)) grads[this.byVariableName.get(vname) ?? vname] = g;
    const loss = (await value.data())[0]!;
    value.dispose();
    const next = this.step + 1;
    if (!Number.isFinite(loss)) {
      tf.dispose(Object.values(grads));
      throw new TrainingDivergedError(next, 'loss', loss);
    }
    if (this.config.gradClipNorm !== null) {
      const { grads: clipped, totalNorm } = clipGradNorm(grads, this.config.gradClipNorm);
      tf.dispose(Object.values(grads));
      grads = clipped;
      const norm = (await totalNorm.data())[0]!;
      totalNorm.dispose();
      if (!Number.isFinite(norm)) {
        tf.dispose(Object.values(grads));
        throw new TrainingDivergedError(next, 'gradNorm', norm);
      }
    }
    this.optimizer.step(grads);
    tf.dispose(Object.values(grads));
    this.ema?.update();
    this.step = next;
    this.batchInEpoch += 1;
    this.imagesSeen += batch.image.shape[0];
    this.lastLoss = loss;
    return loss;
  }

  // -------------------------------------------------------------------------------------------
  // Loop

  /** Trains until `steps` (total) or `epochs` (total) is reached, the data ends, or `signal` aborts. */
  async fit(options: FitOptions): Promise<FitResult> {
    const {
      data,
      steps,
      epochs,
      validate,
      onProgress,
      progressEvery = 1,
      onValidation,
      onCheckpoint,
      signal,
    } = options;
    if (steps === undefined && epochs === undefined) throw new ArgumentError('options', 'give steps or epochs');
    if (steps !== undefined && !(Number.isInteger(steps) && steps >= 0))
      throw new ArgumentError('options.steps', `expected an integer ≥ 0, got ${steps}`);
    if (epochs !== undefined && !(Number.isInteger(epochs) && epochs >= 0))
      throw new ArgumentError('options.epochs', `expected an integer ≥ 0, got ${epochs}`);
    if (validate && !(Number.isInteger(validate.every) && validate.every > 0))
      throw new ArgumentError('options.validate.every', `expected an integer > 0, got ${validate.every}`);
    const restartable = isRestartable(data);
    const stepsPerEpoch = (data as { batchesPerEpoch?: number }).batchesPerEpoch;
    const totalSteps = steps ?? (epochs !== undefined && stepsPerEpoch !== undefined ? epochs * stepsPerEpoch : null);
    const t0 = now();
    const startStep = this.step;
    let lastReport = t0;
    let lastReportStep = this.step;
    let lossSum = 0;
    let lossCount = 0;
    let stopped: FitResult['stopped'] | null = null;
    const done = (): FitResult['stopped'] | null => {
      if (signal?.aborted) return 'aborted';
      if (steps !== undefined && this.step >= steps) return 'steps';
      if (epochs !== undefined && this.epoch >= epochs) return 'epochs';
      return null;
    };
    stopped = done();
    while (stopped === null) {
      let index = 0;
      let completed = true;
      let closed = false;
      for await (const input of iterateBatches(epochBatches(data, this.epoch))) {
        if (restartable && index < this.batchInEpoch) {
          index++;
          continue; // consumed before the resume
        }
        index++;
        const loss = await this.trainStep(input);
        if (stepsPerEpoch !== undefined && this.batchInEpoch >= stepsPerEpoch) {
          // the last batch of a dataset of known length: close the epoch now, not at the next pull
          this.epoch += 1;
          this.batchInEpoch = 0;
          closed = true;
        }
        lossSum += loss;
        lossCount++;
        if (onProgress && (this.step % progressEvery === 0 || this.step === steps)) {
          const t = now();
          const dt = Math.max(t - lastReport, 1e-9);
          const ips = ((this.step - lastReportStep) * input.image.shape[0]) / dt;
          const elapsed = t - t0;
          const rate = (this.step - startStep) / Math.max(elapsed, 1e-9);
          onProgress({
            step: this.step,
            totalSteps,
            epoch: this.epoch,
            loss,
            meanLoss: lossSum / lossCount,
            imagesPerSecond: ips,
            etaSeconds: totalSteps === null ? null : Math.max(totalSteps - this.step, 0) / rate,
            elapsedSeconds: elapsed,
          });
          lastReport = t;
          lastReportStep = this.step;
          lossSum = 0;
          lossCount = 0;
        }
        if (this.store && this.config.checkpointEvery !== null && this.step % this.config.checkpointEvery === 0) {
          await this.save('last');
          onCheckpoint?.('last', this.step);
        }
        if (validate && this.step % validate.every === 0) {
          const value = await validate.fn(this);
          const improved = this.bestValidation === null || value < this.bestValidation;
          if (improved) {
            this.bestValidation = value;
            if (this.store) {
              await this.save('best');
              onCheckpoint?.('best', this.step);
            }
          }
          onValidation?.({ step: this.step, value, improved, best: this.bestValidation! });
        }
        stopped = done();
        if (stopped !== null) {
          completed = false;
          break;
        }
      }
      if (completed) {
        if (index === 0) {
          stopped = 'exhausted'; // an empty (or used-up one-shot) source
          break;
        }
        if (!closed) {
          this.epoch += 1;
          this.batchInEpoch = 0;
        }
        stopped = done();
      }
    }
    if (this.store && this.step > startStep) {
      await this.save('last');
      onCheckpoint?.('last', this.step);
    }
    return { step: this.step, epoch: this.epoch, loss: this.lastLoss, bestValidation: this.bestValidation, stopped };
  }

  /**
   * Runs `fn` with the EMA weights swapped into the networks (e.g. for validation), then restores
   * the raw weights exactly. Without EMA it just runs `fn`.
   */
  async withEmaWeights<T>(fn: () => T | Promise<T>): Promise<T> {
    if (!this.ema) return fn();
    const saved = this.params.map((p) => tf.clone(p.variable));
    try {
      this.ema.copyTo(this.parameters);
      return await fn();
    } finally {
      this.params.forEach((p, i) => p.variable.assign(saved[i]!));
      tf.dispose(saved);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Checkpoints

  /** The checkpoint files of the current state (see the module comment). */
  async saveState(): Promise<CheckpointFiles> {
    const nets = this.objective.networks();
    const torchOf = async (entries: [string, tf.Tensor, TorchLayout][]): Promise<Map<string, SafetensorsInput>> => {
      const out = new Map<string, SafetensorsInput>();
      for (const [name, t, layout] of entries) {
        const tt = toTorchLayout(t, layout);
        try {
          out.set(name, { shape: tt.shape, data: Float32Array.from((await tt.data()) as Float32Array) });
        } finally {
          tt.dispose();
        }
      }
      return out;
    };
    const extras: Record<string, Map<string, SafetensorsInput> | TrainableNetwork> = {};
    for (const [role, net] of Object.entries(nets)) if (role !== 'model') extras[role] = net;
    const opt = this.optimizer.getState();
    try {
      const entries: [string, tf.Tensor, TorchLayout][] = [];
      for (const p of this.params) {
        entries.push([`exp_avg.${p.name}`, opt.expAvg[p.name]!, p.layout]);
        entries.push([`exp_avg_sq.${p.name}`, opt.expAvgSq[p.name]!, p.layout]);
        if (opt.maxExpAvgSq) entries.push([`max_exp_avg_sq.${p.name}`, opt.maxExpAvgSq[p.name]!, p.layout]);
      }
      extras.optimizer = await torchOf(entries);
    } finally {
      tf.dispose([
        ...Object.values(opt.expAvg),
        ...Object.values(opt.expAvgSq),
        ...Object.values(opt.maxExpAvgSq ?? {}),
      ]);
    }
    if (this.ema) {
      const shadow = this.ema.shadow;
      extras.ema = await torchOf(this.params.map((p) => [p.name, shadow[p.name]!, p.layout]));
    }
    const state: TrainerStateJson = {
      format: 'adx-trainer',
      version: 1,
      step: this.step,
      epoch: this.epoch,
      batchInEpoch: this.batchInEpoch,
      imagesSeen: this.imagesSeen,
      bestValidation: this.bestValidation,
      rng: this.rngStates(),
      trainer: JSON.parse(JSON.stringify(this.config)) as TrainerConfig,
      optimizerStep: this.optimizer.stepCount,
      emaStep: this.ema ? this.ema.step : null,
      objective: this.objective.toConfig(),
      networks: Object.fromEntries(Object.entries(nets).map(([r, n]) => [r, n.toConfig()])),
    };
    return serializeCheckpoint(nets.model!, { extras, state });
  }

  /** Writes the current state to the store under `name` (atomic in the Node folder store). */
  async save(name = 'last'): Promise<void> {
    if (!this.store) throw new ArgumentError('store', 'this trainer has no checkpoint store');
    const { files } = await this.saveState();
    await this.store.write(name, files);
  }

  /** Restores weights, EMA, optimizer moments, counters and RNG states from checkpoint files. */
  loadState(files: Record<string, Uint8Array>, source = 'checkpoint'): void {
    const parsed = parseCheckpoint(files, source);
    const state = parsed.state as TrainerStateJson | undefined;
    if (!state || state.format !== 'adx-trainer' || state.version !== 1)
      throw new WeightsError(`${source}/state.json`, 'not an ADX trainer state (format adx-trainer, version 1)');
    const objClass = this.objective.toConfig().className;
    if (state.objective?.className !== objClass) {
      throw new WeightsError(
        `${source}/state.json`,
        `written by a ${String(state.objective?.className)}, this trainer's objective is a ${String(objClass)}`,
      );
    }
    const nets = this.objective.networks();
    for (const [role, net] of Object.entries(nets)) {
      const file = role === 'model' ? 'model.safetensors' : `${role}.safetensors`;
      const weights = role === 'model' ? parsed.weights : parsed.extras[role];
      if (!weights) throw new WeightsError(`${source}/${file}`, `missing (network role '${role}')`);
      if (parsed.config.className !== nets.model!.className && role === 'model')
        throw new WeightsError(`${source}/config.json`, `class ${parsed.config.className} ≠ ${nets.model!.className}`);
      loadStateDict(net, weights, { ignore: [NUM_BATCHES_TRACKED], source: `${source}/${file}` });
      (net as { setNumBatchesTracked?: (m: Map<string, SafetensorsEntry>) => void }).setNumBatchesTracked?.(weights);
    }
    const fromTorch = (map: Map<string, SafetensorsEntry>, name: string, p: ParamEntry, file: string): tf.Tensor => {
      const e = map.get(name);
      if (!e) throw new WeightsError(`${source}/${file}`, `missing '${name}'`);
      return tf.tidy(() =>
        fromTorchLayout(tf.tensor(Float32Array.from(e.data as Float32Array), e.shape, 'float32'), p.layout),
      );
    };
    const opt = parsed.extras.optimizer;
    if (!opt) throw new WeightsError(`${source}/optimizer.safetensors`, 'missing');
    const ams = this.optimizer.config.amsgrad;
    const expAvg: Record<string, tf.Tensor> = {};
    const expAvgSq: Record<string, tf.Tensor> = {};
    const maxSq: Record<string, tf.Tensor> = {};
    try {
      for (const p of this.params) {
        expAvg[p.name] = fromTorch(opt, `exp_avg.${p.name}`, p, 'optimizer.safetensors');
        expAvgSq[p.name] = fromTorch(opt, `exp_avg_sq.${p.name}`, p, 'optimizer.safetensors');
        if (ams) maxSq[p.name] = fromTorch(opt, `max_exp_avg_sq.${p.name}`, p, 'optimizer.safetensors');
      }
      // (setState's same-dtype tf.cast makes clones; the tidy frees them)
      tf.tidy(() =>
        this.optimizer.setState({
          step: state.optimizerStep,
          expAvg,
          expAvgSq,
          ...(ams ? { maxExpAvgSq: maxSq } : {}),
        }),
      );
    } finally {
      tf.dispose([...Object.values(expAvg), ...Object.values(expAvgSq), ...Object.values(maxSq)]);
    }
    if (this.ema) {
      const emaFile = parsed.extras.ema;
      if (!emaFile || state.emaStep === null) throw new WeightsError(`${source}/ema.safetensors`, 'missing');
      const shadow: Record<string, tf.Tensor> = {};
      try {
        for (const p of this.params) shadow[p.name] = fromTorch(emaFile, p.name, p, 'ema.safetensors');
        tf.tidy(() => this.ema!.setState({ step: state.emaStep!, shadow }));
      } finally {
        tf.dispose(Object.values(shadow));
      }
    }
    this.rngs.noise.setState(state.rng.noise);
    this.rngs.augment.setState(state.rng.augment);
    this.rngs.dropout.setState(state.rng.dropout);
    this.step = state.step;
    this.epoch = state.epoch;
    this.batchInEpoch = state.batchInEpoch;
    this.imagesSeen = state.imagesSeen;
    this.bestValidation = state.bestValidation;
  }

  /**
   * A trainer continuing a checkpoint: `options.objective` must hold networks of the saved
   * architecture (their weights are overwritten); optimizer, EMA, clipping, seed and checkpoint
   * cadence default to the saved settings. `source` is checkpoint files, or a store and a name.
   */
  static async resume(
    source: Record<string, Uint8Array> | { store: CheckpointStore; name?: string },
    options: TrainerOptions,
  ): Promise<Trainer> {
    const fromStore = 'store' in source && typeof (source as { store?: unknown }).store === 'object';
    const name = fromStore ? ((source as { name?: string }).name ?? 'last') : 'checkpoint';
    const files = fromStore
      ? await (source as { store: CheckpointStore }).store.read(name)
      : (source as Record<string, Uint8Array>);
    const parsed = parseCheckpoint(files, name);
    const saved = (parsed.state as TrainerStateJson | undefined)?.trainer;
    if (!saved) throw new WeightsError(`${name}/state.json`, 'no trainer settings');
    checkConfigKeys('Trainer', saved, CONFIG_KEYS);
    const trainer = new Trainer({
      optimizer: saved.optimizer,
      ema: saved.ema,
      gradClipNorm: saved.gradClipNorm,
      seed: saved.seed,
      checkpointEvery: saved.checkpointEvery,
      ...(fromStore ? { store: (source as { store: CheckpointStore }).store } : {}),
      ...options,
    });
    trainer.loadState(files, name);
    return trainer;
  }

  /** Releases the optimizer moments and EMA weights (not the networks, which the objective owns). */
  dispose(): void {
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}

function now(): number {
  return (typeof performance !== 'undefined' ? performance.now() : Date.now()) / 1000;
}
