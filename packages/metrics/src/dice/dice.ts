/**
 * Dice coefficients and Dice-vs-threshold curves. Masks are binarised with `> 0` (GT = seg > 0 in
 * all three papers); maps are thresholded strictly (`map > t`, as THOR `optim/metrics/dice.py`,
 * Behrendt `utils_eval.py` and Wolleb `scripts/evaluation_metrics` do) unless `inclusive` is set.
 */
import { MetricsArgumentError } from '../errors.js';
import { checkFinite, checkSameLength, linspace } from '../ndarray.js';
import { warn } from '../warnings.js';

export interface DiceOptions {
  /**
   * Added to the denominator: 0 (default, the plain formula; both masks empty gives NaN with a
   * warning) or 1e-6 (THOR `optim/metrics/dice.py`, which gives 0 for two empty masks).
   */
  epsilon?: number;
}

/** Dice = 2|P ∩ G| / (|P| + |G| + ε) of two binary masks (> 0 is foreground). */
export function dice(pred: ArrayLike<number>, gt: ArrayLike<number>, options: DiceOptions = {}): number {
  checkSameLength('pred', pred, 'gt', gt);
  let p = 0;
  let g = 0;
  let pg = 0;
  for (let i = 0; i < pred.length; i++) {
    const a = pred[i]! > 0;
    const b = gt[i]! > 0;
    if (a) p++;
    if (b) g++;
    if (a && b) pg++;
  }
  return diceFromCounts(pg, p, g, options.epsilon ?? 0);
}

/** Dice from counts; NaN (with a warning) for 0/0. */
export function diceFromCounts(intersection: number, predicted: number, truth: number, epsilon = 0): number {
  const den = predicted + truth + epsilon;
  if (den === 0) {
    warn('Dice is 0/0 (prediction and ground truth both empty); returning NaN');
    return NaN;
  }
  return (2 * intersection) / den;
}

/** Dice of `map > threshold` (or `>=` with `inclusive`) against `gt > 0`. */
export function diceAtThreshold(
  map: ArrayLike<number>,
  gt: ArrayLike<number>,
  threshold: number,
  options: DiceOptions & { inclusive?: boolean } = {},
): number {
  checkSameLength('map', map, 'gt', gt);
  const inclusive = options.inclusive ?? false;
  let p = 0;
  let g = 0;
  let pg = 0;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    const a = inclusive ? v >= threshold : v > threshold;
    const b = gt[i]! > 0;
    if (a) p++;
    if (b) g++;
    if (a && b) pg++;
  }
  return diceFromCounts(pg, p, g, options.epsilon ?? 0);
}

export interface DiceCurve {
  thresholds: Float64Array;
  dice: Float64Array;
  /** |P| per threshold. */
  predicted: Float64Array;
  /** |P ∩ G| per threshold. */
  intersection: Float64Array;
  /** |G|. */
  truthCount: number;
}

/**
 * Dice at every threshold in one pass, O(n log T): each voxel is binned by how many thresholds it
 * exceeds, then counts are accumulated. Thresholds may be in any order.
 */
export function diceCurve(
  map: ArrayLike<number>,
  gt: ArrayLike<number>,
  thresholds: ArrayLike<number>,
  options: DiceOptions & { inclusive?: boolean } = {},
): DiceCurve {
  checkSameLength('map', map, 'gt', gt);
  checkFinite('thresholds', thresholds);
  const T = thresholds.length;
  if (T === 0) throw new MetricsArgumentError('thresholds', 'needs at least one threshold');
  const order = Array.from({ length: T }, (_, i) => i).sort((a, b) => thresholds[a]! - thresholds[b]!);
  const sorted = Float64Array.from(order, (i) => thresholds[i]!);
  const inclusive = options.inclusive ?? false;
  // hist[c] = voxels exceeding exactly the c smallest thresholds.
  const histP = new Float64Array(T + 1);
  const histPG = new Float64Array(T + 1);
  let g = 0;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    // c = #{t : v > t} (or v >= t): binary search in the ascending thresholds.
    let lo = 0;
    let hi = T;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (inclusive ? sorted[mid]! <= v : sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    histP[lo]!++;
    if (gt[i]! > 0) {
      histPG[lo]!++;
      g++;
    }
  }
  const predicted = new Float64Array(T);
  const intersection = new Float64Array(T);
  const diceValues = new Float64Array(T);
  let cp = 0;
  let cpg = 0;
  for (let k = T - 1; k >= 0; k--) {
    cp += histP[k + 1]!;
    cpg += histPG[k + 1]!;
    const idx = order[k]!;
    predicted[idx] = cp;
    intersection[idx] = cpg;
  }
  const eps = options.epsilon ?? 0;
  let warned = false;
  for (let k = 0; k < T; k++) {
    const den = predicted[k]! + g + eps;
    if (den === 0 && !warned) {
      warn('Dice is 0/0 at some thresholds (prediction and ground truth both empty); those are NaN');
      warned = true;
    }
    diceValues[k] = den === 0 ? NaN : (2 * intersection[k]!) / den;
  }
  return { thresholds: Float64Array.from(thresholds), dice: diceValues, predicted, intersection, truthCount: g };
}

export interface BestDice {
  dice: number;
  threshold: number;
}

/**
 * Oracle best Dice over a threshold grid (first maximum, like `numpy.argmax`). THOR
 * (`DownstreamEvaluatorAtlas.py`, `optim/metrics/dice.py`): grid `linspace(0, 1, 101)`, ε = 1e-6.
 */
export function bestDiceOverGrid(
  map: ArrayLike<number>,
  gt: ArrayLike<number>,
  thresholds: ArrayLike<number> = linspace(0, 1, 101),
  options: DiceOptions & { inclusive?: boolean } = {},
): BestDice & { index: number; curve: DiceCurve } {
  const curve = diceCurve(map, gt, thresholds, options);
  let index = 0;
  for (let k = 1; k < curve.dice.length; k++) {
    if (curve.dice[k]! > curve.dice[index]! || (Number.isNaN(curve.dice[index]!) && !Number.isNaN(curve.dice[k]!)))
      index = k;
  }
  return { dice: curve.dice[index]!, threshold: curve.thresholds[index]!, index, curve };
}

/**
 * Zimmerer's iterative bisection as used by Behrendt et al. (`utils_eval.py` `find_best_val`,
 * L499-530): on the interval [bottom, top] evaluate Dice(map > q) at the 25 % and 75 % points,
 * keep the better one if it beats the best so far (`>=`), and recurse into the lower or upper half.
 * Default range [0, max(map)], 10 steps. Plain Dice (0/0 = NaN never wins a comparison, as in NumPy).
 */
export function bestDiceBisection(
  map: ArrayLike<number>,
  gt: ArrayLike<number>,
  options: { steps?: number; range?: [number, number] } = {},
): BestDice & { evaluations: { threshold: number; dice: number }[] } {
  checkSameLength('map', map, 'gt', gt);
  if (map.length === 0) throw new MetricsArgumentError('map', 'empty input');
  const steps = options.steps ?? 10;
  let range = options.range;
  if (!range) {
    let mx = -Infinity;
    for (let i = 0; i < map.length; i++) if (map[i]! > mx) mx = map[i]!;
    range = [0, mx];
  }
  const evaluations: { threshold: number; dice: number }[] = [];
  const quietDice = (t: number): number => {
    let p = 0;
    let g = 0;
    let pg = 0;
    for (let i = 0; i < map.length; i++) {
      const a = map[i]! > t;
      const b = gt[i]! > 0;
      if (a) p++;
      if (b) g++;
      if (a && b) pg++;
    }
    const d = p + g === 0 ? NaN : (2 * pg) / (p + g);
    evaluations.push({ threshold: t, dice: d });
    return d;
  };
  let maxVal = 0;
  let maxPoint = 0;
  let [bottom, top] = range;
  for (let step = 0; step < steps; step++) {
    if (bottom === top) top = 1; // `if val_range[0] == val_range[1]: val_range = (val_range[0], 1)`
    const center = bottom + (top - bottom) * 0.5;
    const qBottom = bottom + (top - bottom) * 0.25;
    const qTop = bottom + (top - bottom) * 0.75;
    const valBottom = quietDice(qBottom);
    const valTop = quietDice(qTop);
    if (valBottom >= valTop) {
      if (valBottom >= maxVal) {
        maxVal = valBottom;
        maxPoint = qBottom;
      }
      top = center;
    } else {
      if (valTop >= maxVal) {
        maxVal = valTop;
        maxPoint = qTop;
      }
      bottom = center;
    }
  }
  return { dice: maxVal, threshold: maxPoint, evaluations };
}

/**
 * Baur et al.'s recursive Dice sweep (`trainers/Metrics.py` `compute_dice_curve_recursive` /
 * `compute_dice_score`, ported literally): thresholds t = start + i·10^−decimal on [0, 1) at
 * decimal 1; at the first i ≥ 2 whose Dice is ≤ the previous one, recurse once into
 * [t_{i−2}, t_i) with the next decimal, up to `granularity` (exclusive; Baur's evaluation uses 10,
 * the function default is 5). All (threshold, Dice) pairs are sorted by threshold and the first
 * maximum is returned (NumPy `argmax`: a NaN Dice, from two empty masks, wins, as upstream).
 * The map is expected in [0, 1]. Each level costs one O(n log T) pass.
 */
export function bestDiceRecursive(
  map: ArrayLike<number>,
  gt: ArrayLike<number>,
  options: { granularity?: number } = {},
): BestDice & { thresholds: Float64Array; scores: Float64Array } {
  checkSameLength('map', map, 'gt', gt);
  if (map.length === 0) throw new MetricsArgumentError('map', 'empty input');
  const granularity = options.granularity ?? 5;
  const quiet = (ts: number[]): Float64Array => {
    const c = diceCurve(map, gt, ts.length > 0 ? ts : [0]);
    // plain Dice; 0/0 stays NaN without a warning per threshold
    return Float64Array.from(ts, (_, k) => {
      const den = c.predicted[k]! + c.truthCount;
      return den === 0 ? NaN : (2 * c.intersection[k]!) / den;
    });
  };
  const inner = (start: number, stop: number, decimal: number): { t: number[]; s: number[] } => {
    const t: number[] = [];
    const sc: number[] = [];
    if (decimal === granularity) return { t, s: sc };
    const step = 1.0 / 10.0 ** decimal;
    const level: number[] = [];
    for (let i = 0; start + i * step < stop; i++) level.push(start + i * step); // xfrange(start, stop, step)
    const scores = quiet(level);
    let hadRecursion = false;
    for (let i = 0; i < level.length; i++) {
      const score = scores[i]!;
      // upstream compares with _scores[i - 1] of the growing list (the previous threshold until the
      // single recursion has happened, which is the only time the comparison matters)
      if (i >= 2 && score <= sc[i - 1]! && !hadRecursion) {
        const sub = inner(t[i - 2]!, level[i]!, decimal + 1);
        t.push(...sub.t);
        sc.push(...sub.s);
        hadRecursion = true;
      }
      sc.push(score);
      t.push(level[i]!);
    }
    return { t, s: sc };
  };
  const { t, s } = inner(0, 1.0, 1);
  // sorted(zip(threshs, scores)): by threshold, then by score
  const order = t.map((_, i) => i).sort((a, b) => t[a]! - t[b]! || cmpPy(s[a]!, s[b]!));
  const thresholds = Float64Array.from(order, (i) => t[i]!);
  const scores = Float64Array.from(order, (i) => s[i]!);
  let best = 0;
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i]!)) {
      best = i;
      break;
    }
    if (scores[i]! > scores[best]!) best = i;
  }
  return { dice: scores[best]!, threshold: thresholds[best]!, thresholds, scores };
}

// Python tuple ordering of floats for the tie-break (NaN compares as neither smaller nor larger).
function cmpPy(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
