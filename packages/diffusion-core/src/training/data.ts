/**
 * Training data for the {@link Trainer}: batches from any (async) iterable, and a seeded in-memory
 * dataset with per-epoch shuffling (torch `DataLoader(shuffle=True, drop_last=True)`).
 *
 * A batch is `{ image, label?, condition? }` with `image` an NHWC `tf.Tensor4D` or a host array
 * `{ data: Float32Array, shape: [N, H, W, C] }`. A data source is an iterable of batches, or a
 * function `epoch → iterable` (then every epoch restarts the source, and a resumed run skips the
 * batches of the interrupted epoch it already consumed, which keeps resumption exact).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import type { ImageArray } from './augment.js';

/** One batch as the user provides it. */
export interface BatchInput {
  /** NHWC images: a tensor (the trainer does not dispose it) or a host array. */
  image: tf.Tensor4D | ImageArray;
  /** Integer class labels, one per image. */
  label?: tf.Tensor1D | ArrayLike<number>;
  /** Condition vectors `[N, K]` (used when the objective has no encoder). */
  condition?: tf.Tensor2D | { data: Float32Array; shape: [number, number] };
}

/** Iterable or async iterable of batches. */
export type BatchIterable = Iterable<BatchInput> | AsyncIterable<BatchInput>;

/** Where training batches come from (see the module comment). */
export type TrainingData =
  BatchIterable | ((epoch: number) => BatchIterable) | { batches(epoch: number): BatchIterable };

/** Resolves a data source for one epoch. */
export function epochBatches(data: TrainingData, epoch: number): BatchIterable {
  if (typeof data === 'function') return data(epoch);
  if (typeof (data as { batches?: unknown }).batches === 'function')
    return (data as { batches(e: number): BatchIterable }).batches(epoch);
  return data as BatchIterable;
}

/** True when every epoch restarts the source deterministically (factories, datasets, arrays). */
export function isRestartable(data: TrainingData): boolean {
  return (
    Array.isArray(data) || typeof data === 'function' || typeof (data as { batches?: unknown }).batches === 'function'
  );
}

/** Iterates sync or async iterables uniformly. */
export async function* iterateBatches(source: BatchIterable): AsyncGenerator<BatchInput> {
  if (Symbol.asyncIterator in source) {
    for await (const b of source as AsyncIterable<BatchInput>) yield b;
  } else {
    for (const b of source as Iterable<BatchInput>) yield b;
  }
}

/** Reads a batch's images to the host (the augmentations work there). */
export async function imageArrayOf(image: BatchInput['image']): Promise<ImageArray> {
  if (image instanceof tf.Tensor) {
    if (image.rank !== 4)
      throw new ArgumentError('batch.image', `expected NHWC rank 4, got [${image.shape.join(', ')}]`);
    return {
      data: Float32Array.from((await image.data()) as Float32Array),
      shape: [...image.shape] as ImageArray['shape'],
    };
  }
  checkImageArray(image);
  return image;
}

export function checkImageArray(image: ImageArray, argument = 'batch.image'): void {
  const s = image?.shape;
  if (!Array.isArray(s) || s.length !== 4 || s.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ArgumentError(`${argument}.shape`, `expected [N, H, W, C], got ${JSON.stringify(s)}`);
  }
  const n = s[0] * s[1] * s[2] * s[3];
  if (!(image.data instanceof Float32Array) || image.data.length !== n)
    throw new ArgumentError(`${argument}.data`, `expected a Float32Array of ${n} values`);
}

export interface InMemoryDatasetOptions {
  batchSize: number;
  /** Shuffle every epoch (default true). */
  shuffle?: boolean;
  /** Drop the last incomplete batch (default true, as THOR and cDDPM). */
  dropLast?: boolean;
  /** Seed of the shuffles; epoch e uses its own generator, so epochs are reproducible independently. */
  seed?: number;
  /** Class labels, one per image. */
  labels?: ArrayLike<number>;
}

/**
 * Images `[N, H, W, C]` in memory, served as host-array batches in a seeded per-epoch order.
 */
export class InMemoryDataset {
  readonly shape: [number, number, number, number];
  readonly batchSize: number;
  private readonly opts: Required<Omit<InMemoryDatasetOptions, 'labels'>>;

  constructor(
    readonly images: ImageArray,
    private readonly options: InMemoryDatasetOptions,
  ) {
    checkImageArray(images, 'images');
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ArgumentError('options.batchSize', `expected an integer ≥ 1, got ${batchSize}`);
    if (options.labels && options.labels.length !== images.shape[0])
      throw new ArgumentError('options.labels', `expected ${images.shape[0]} labels, got ${options.labels.length}`);
    this.shape = images.shape;
    this.batchSize = batchSize;
    this.opts = {
      batchSize,
      shuffle: options.shuffle ?? true,
      dropLast: options.dropLast ?? true,
      seed: options.seed ?? 0,
    };
  }

  get length(): number {
    return this.shape[0];
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    const n = this.shape[0] / this.batchSize;
    return this.opts.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The sample order of `epoch`. */
  order(epoch: number): number[] {
    const idx = Array.from({ length: this.shape[0] }, (_, i) => i);
    if (!this.opts.shuffle) return idx;
    return new SeededRNG(this.opts.seed + 1_000_003 * epoch).shuffle(idx);
  }

  *batches(epoch: number): Generator<BatchInput> {
    const [, H, W, C] = this.shape;
    const size = H * W * C;
    const order = this.order(epoch);
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const ids = order.slice(b * this.batchSize, (b + 1) * this.batchSize);
      const data = new Float32Array(ids.length * size);
      ids.forEach((id, i) => data.set(this.images.data.subarray(id * size, (id + 1) * size), i * size));
      const batch: BatchInput = { image: { data, shape: [ids.length, H, W, C] } };
      if (this.options.labels) batch.label = ids.map((i) => this.options.labels![i]!);
      yield batch;
    }
  }
}
