/**
 * `adx train` with `method: classifier`: the two networks of Wolleb et al. (MICCAI 2022) with the
 * trainers of @adx/guidance-classifier, on slices with weak (image-level) labels, 0 = healthy:
 *
 * - `unet/`: the class-conditional learned-sigma `UNetModel`, `wollebDiffusionTrainer` (hybrid loss
 *   ε-MSE + L_vb, AdamW; `scripts/image_train.py`);
 * - `classifier/`: the noisy `EncoderUNetModel`, `noisyClassifierTrainer` (cross-entropy on x_t at
 *   t ~ U{0 … 999}, AdamW, optional class weights; `scripts/classifier_train.py`).
 *
 * Config:
 *   method: classifier
 *   unet: { className: UNetModel, imageSize, inChannels: 1, outChannels: 2, numClasses: 2, … }
 *   classifier: { className: EncoderUNetModel, imageSize, outChannels: 2, pool: attention, … }
 *   data: { count, size, contrast, diseasedFraction, seed }      # or a folder, see data.ts
 *   training: { steps, batchSize, lr, seed, networks: [unet, classifier], classWeights: [3, 1], ema: null,
 *               checkpointEvery: null, maxTimestep: 300, weightDecay: 0, gradClipNorm: null, flip: false }
 *
 * `classWeights`, `maxTimestep` (t ~ U{0 … maxTimestep − 1}), `weightDecay`, `gradClipNorm` and `flip`
 * (random horizontal flips) apply to the classifier only (the guidance-classifier "classifier recipe";
 * the defaults are the official settings).
 *
 * Seeds: the UNet is initialised and trained with `seed`, the classifier with `seed + 1`; both see
 * the data in the order of `seed`. `ema` defaults to null (no EMA; the official 0.9999 needs far
 * more steps than a CLI run usually has) and applies to the UNet only, as upstream.
 */
import { join } from 'node:path';
import { randomHorizontalFlip, type EncoderUNetModel, type UNetModel } from '@adx/diffusion-core';
import { saveCheckpoint } from '@adx/diffusion-core/node';
import { noisyClassifierTrainer, wollebDiffusionTrainer } from '@adx/guidance-classifier';
import { UsageError } from '../errors.js';
import {
  buildModel,
  fitWithProgress,
  folderStore,
  resumeFrom,
  sliceDataset,
  type MethodResult,
  type NetworkSummary,
} from './common.js';
import { loadSliceSet } from './data.js';
import { bool, emaDecay, int, num, numList, section, type Section } from './fields.js';

export const CLASSIFIER_TOP_KEYS = ['method', 'unet', 'classifier', 'data', 'training'];
const TRAINING_KEYS = [
  'steps',
  'batchSize',
  'lr',
  'seed',
  'networks',
  'classWeights',
  'ema',
  'checkpointEvery',
  // classifier recipe (guidance-classifier README, "Classifier recipe"; not in the official code)
  'maxTimestep',
  'weightDecay',
  'gradClipNorm',
  'flip',
];
const NETWORKS = ['unet', 'classifier'] as const;
type Network = (typeof NETWORKS)[number];

export async function trainClassifierMethod(
  cfg: Section,
  o: { out: string; steps?: number; seed?: number; quiet?: boolean; resume?: boolean; log?: (line: string) => void },
): Promise<MethodResult> {
  const training = section(cfg.training, 'training', TRAINING_KEYS);
  const steps = o.steps ?? int(training, 'steps', 'training', 1000);
  const batchSize = int(training, 'batchSize', 'training', 8);
  const lr = num(training, 'lr', 'training', 1e-4, 0);
  const seed = o.seed ?? int(training, 'seed', 'training', 0, 0);
  const classWeights = numList(training, 'classWeights', 'training') ?? null;
  const ema = emaDecay(training, 'training');
  const maxTimestep = training.maxTimestep === undefined ? undefined : int(training, 'maxTimestep', 'training', 1000);
  const weightDecay = num(training, 'weightDecay', 'training', 0, 0);
  const gradClipNorm =
    training.gradClipNorm === undefined || training.gradClipNorm === null
      ? null
      : num(training, 'gradClipNorm', 'training', 1, 0);
  const flip = bool(training, 'flip', 'training', false);
  const checkpointEvery =
    training.checkpointEvery === undefined || training.checkpointEvery === null
      ? null
      : int(training, 'checkpointEvery', 'training', 1);
  const networks = (training.networks ?? [...NETWORKS]) as Network[];
  if (!Array.isArray(networks) || networks.length === 0 || networks.some((n) => !NETWORKS.includes(n)))
    throw new UsageError(
      `config 'training.networks' must be a non-empty list of ${NETWORKS.join(' | ')}, got ${JSON.stringify(training.networks)}`,
    );
  for (const n of networks)
    if (cfg[n] === undefined) throw new UsageError(`config '${n}' is missing (training.networks lists it)`);
  if (classWeights && classWeights.length !== 2)
    throw new UsageError(`config 'training.classWeights' needs one weight per class (2), got ${classWeights.length}`);

  // Validate both configs before the (possibly slow) data generation.
  const models: Partial<Record<Network, UNetModel | EncoderUNetModel>> = {};
  try {
    if (networks.includes('unet')) models.unet = buildModel(cfg, 'unet', 'UNetModel', ['UNetModel'], seed) as UNetModel;
    if (networks.includes('classifier'))
      models.classifier = buildModel(
        cfg,
        'classifier',
        'EncoderUNetModel',
        ['EncoderUNetModel'],
        seed + 1,
      ) as EncoderUNetModel;
    const data = await loadSliceSet(cfg.data, { healthyOnly: false, defaultSize: 64, defaultCount: 256 });
    const diseased = data.labels.filter((l) => l === 1).length;
    if (networks.includes('classifier') && (diseased === 0 || diseased === data.count))
      throw new UsageError(
        `config 'data': all ${data.count} slices are ${diseased ? 'diseased' : 'healthy'}; the classifier needs both labels`,
      );
    const out: Record<string, NetworkSummary> = {};
    const state = (network: Network) => ({
      trainedWith: 'adx train',
      method: 'classifier',
      network,
      config: cfg,
      steps,
      seed,
    });
    if (models.unet) {
      const unet = models.unet as UNetModel;
      const trainer = wollebDiffusionTrainer(unet, {
        lr,
        ema,
        seed,
        ...(checkpointEvery !== null || o.resume
          ? { store: folderStore(join(o.out, 'trainer', 'unet')), checkpointEvery }
          : {}),
      });
      try {
        if (o.resume) await resumeFrom(trainer, join(o.out, 'trainer', 'unet'), 'train unet', o.log);
        const r = await fitWithProgress(
          trainer,
          sliceDataset(data, batchSize, seed, true),
          steps,
          'train unet',
          o.quiet,
        );
        const checkpoint = join(o.out, 'unet');
        await trainer.withEmaWeights(() => saveCheckpoint(checkpoint, unet, { state: state('unet') }));
        out.unet = { checkpoint, parameters: unet.numParameters(), ...r };
      } finally {
        trainer.dispose();
      }
    }
    if (models.classifier) {
      const classifier = models.classifier as EncoderUNetModel;
      const trainer = noisyClassifierTrainer(classifier, {
        lr,
        classWeights,
        ...(maxTimestep !== undefined ? { maxTimestep } : {}),
        weightDecay,
        gradClipNorm,
        augment: flip ? randomHorizontalFlip() : null,
        seed: seed + 1,
        ...(checkpointEvery !== null || o.resume
          ? { store: folderStore(join(o.out, 'trainer', 'classifier')), checkpointEvery }
          : {}),
      });
      try {
        if (o.resume) await resumeFrom(trainer, join(o.out, 'trainer', 'classifier'), 'train classifier', o.log);
        const r = await fitWithProgress(
          trainer,
          sliceDataset(data, batchSize, seed, true),
          steps,
          'train classifier',
          o.quiet,
        );
        const checkpoint = join(o.out, 'classifier');
        await saveCheckpoint(checkpoint, classifier, { state: state('classifier') });
        out.classifier = { checkpoint, parameters: classifier.numParameters(), ...r };
      } finally {
        trainer.dispose();
      }
    }
    return { networks: out, data: { slices: data.count, diseased, size: data.size } };
  } finally {
    models.unet?.dispose();
    models.classifier?.dispose();
  }
}
