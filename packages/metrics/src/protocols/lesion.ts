/**
 * Lesion-wise detection (Baur et al. `utils/Evaluation.py`): connected components of prediction and
 * ground truth; a GT lesion is detected (TP) if any kept predicted voxel overlaps it, otherwise FN;
 * a predicted component overlapping no GT voxel is an FP. Predicted components smaller than
 * `minPredictedSize` (default 8 voxels) are ignored.
 */
import { checkSameShape, type NdArray } from '../ndarray.js';
import { label, type Connectivity } from '../ops/label.js';

export interface LesionDetection {
  tp: number;
  fp: number;
  fn: number;
  gtLesions: number;
  predictedLesions: number;
  /** TP / (TP + FN); NaN without GT lesions. */
  recall: number;
  /** TP_pred / (TP_pred + FP) over predicted components; NaN without predictions. */
  precision: number;
}

export function lesionDetection(
  pred: NdArray,
  gt: NdArray,
  options: { connectivity?: Connectivity; minPredictedSize?: number } = {},
): LesionDetection {
  checkSameShape('pred', pred, 'gt', gt);
  const conn = options.connectivity ?? (Math.min(3, pred.shape.length) as Connectivity);
  const minSize = options.minPredictedSize ?? 8;
  const P = label(pred, conn);
  const G = label(gt, conn);
  const gtHit = new Uint8Array(G.count + 1);
  const predHit = new Uint8Array(P.count + 1);
  for (let i = 0; i < P.labels.length; i++) {
    const p = P.labels[i]!;
    const g = G.labels[i]!;
    if (p > 0 && g > 0 && P.sizes[p - 1]! >= minSize) {
      gtHit[g] = 1;
      predHit[p] = 1;
    }
  }
  let tp = 0;
  for (let g = 1; g <= G.count; g++) tp += gtHit[g]!;
  let kept = 0;
  let predTp = 0;
  for (let p = 1; p <= P.count; p++) {
    if (P.sizes[p - 1]! < minSize) continue;
    kept++;
    predTp += predHit[p]!;
  }
  const fp = kept - predTp;
  return {
    tp,
    fp,
    fn: G.count - tp,
    gtLesions: G.count,
    predictedLesions: kept,
    recall: G.count === 0 ? NaN : tp / G.count,
    precision: kept === 0 ? NaN : predTp / kept,
  };
}
