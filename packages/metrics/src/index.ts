/**
 * @adx/metrics — anomaly-segmentation metrics equal to scikit-learn / SciPy / scikit-image, the
 * evaluation protocols of Baur et al., Behrendt et al. (cDDPM), THOR and Wolleb et al., the
 * post-processing they use, and Markdown / JSON / SVG / PNG reports. Pure TypeScript on typed
 * arrays; no tfjs, no Node built-ins.
 */
export { MetricsError, MetricsArgumentError, MetricsConfigError, UndefinedMetricError } from './errors.js';
export { setWarningHandler, collectWarnings, type WarningHandler } from './warnings.js';
export { linspace, nanMeanStd, numel, type NdArray, type NumericArray } from './ndarray.js';

// ranking
export {
  averagePrecisionScore,
  binaryClfCurve,
  precisionRecallCurve,
  rankingMetrics,
  rocAucScore,
  rocCurve,
  type BinaryClfCurve,
  type PrecisionRecallCurve,
  type RocCurve,
} from './ranking/curves.js';
export { HistogramRanking, type HistogramRankingOptions } from './ranking/histogram.js';

// Dice and thresholds
export {
  bestDiceBisection,
  bestDiceOverGrid,
  bestDiceRecursive,
  dice,
  diceAtThreshold,
  diceCurve,
  diceFromCounts,
  type BestDice,
  type DiceCurve,
  type DiceOptions,
} from './dice/dice.js';
export {
  countsAbove,
  percentile,
  thresholdAtFpr,
  thresholdAtMeanImageFpr,
  thresholdAtRocFpr,
  thresholdOtsu,
} from './dice/thresholds.js';

// post-processing
export { mapIndex, type BoundaryMode } from './ops/boundary.js';
export {
  gaussianFilter,
  gaussianKernel1d,
  medianFilter,
  uniformFilter,
  type GaussianFilterOptions,
} from './ops/filters.js';
export {
  applyMask,
  binaryErosion,
  greyClosing,
  greyDilation,
  greyErosion,
  greyOpening,
  type BinaryErosionOptions,
  type GreyMorphologyOptions,
} from './ops/morphology.js';
export { label, removeSmallComponents, type Connectivity, type Labels } from './ops/label.js';
export {
  absResidual,
  channelSumAbsResidual,
  hyperintensityPrior,
  minMaxNormalize,
  positiveResidual,
} from './ops/residual.js';

// protocols
export { binarize, pool, type EvaluationCase } from './protocols/common.js';
export { lesionDetection, type LesionDetection } from './protocols/lesion.js';
export { l1Error, reconstructionErrors, ssim, type SsimOptions } from './protocols/reconstruction.js';
export {
  baurPooledProtocol,
  baurPostprocess,
  type BaurPooledOptions,
  type BaurPostprocessOptions,
} from './protocols/baur.js';
export {
  behrendtPerVolumeProtocol,
  behrendtPostprocess,
  type BehrendtOptions,
  type BehrendtPostprocessOptions,
  type BehrendtVolume,
} from './protocols/behrendt.js';
export {
  THOR_BLACK_ARTIFACT_COUNTS,
  THOR_LESION_BINS,
  thorBrainProtocol,
  thorWristProtocol,
  wristObjectScore,
  type LesionSizeBin,
  type ThorBrainCase,
  type ThorBrainOptions,
  type WristObject,
} from './protocols/thor.js';
export { centerCrop2d, wollebPerSliceProtocol } from './protocols/wolleb.js';
export { imageLevelProtocol } from './protocols/imageLevel.js';

// reports
export {
  reportToJson,
  reportToMarkdown,
  type Aggregation,
  type MetricEntry,
  type MetricsReport,
  type ThresholdSource,
} from './report/report.js';
export {
  diceCurveSvg,
  lineChartPng,
  lineChartSvg,
  precisionRecallCurveSvg,
  rocCurveSvg,
  type PlotOptions,
  type PlotSeries,
} from './report/plots.js';
