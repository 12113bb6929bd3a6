/** The analysis report (schema version 1): what `quantlens analyze` writes and the report panel shows. */
import type { Recipe } from './recipe';

/** Cost of one analysis phase: wall time, and of it session creations and ONNX Runtime runs (ms). */
export interface PhaseCost {
  ms: number;
  sessions: number;
  sessionMs: number;
  runs: number;
  runMs: number;
  /** The process's peak resident memory when the phase ended (MB; the phase where it grows set a new peak). */
  peakRssMb?: number;
  /** The highest current resident memory sampled during the phase (MB; every 20 ms and at each run's end): the phase's own peak, not the process's so far. */
  rssMb?: number;
}

/** Current report schema version; bump on incompatible changes. */
export const REPORT_SCHEMA_VERSION = 1;

/** Which data a metric was computed on. */
export interface ReportData {
  kind: string;
  /** True when the inputs were generated, not real samples. */
  synthetic: boolean;
  samples: number;
  /** Folder, file or package the data came from. */
  source: string;
  /** True when accuracy against labels could be computed. */
  labels: boolean;
}

/** A candidate format pair analysed for every layer, e.g. `{id: 'w4-pc', weights: 'int4/per-channel', activations: 'float'}`. */
export interface FormatCandidate {
  id: string;
  weights: string;
  activations: string;
}

/** Metrics of the model outputs against the float model's outputs (and labels when present). */
export interface EndToEndMetrics {
  /** Signal-to-quantization-noise ratio of the outputs, in dB (higher is better). */
  sqnrDb: number;
  mse: number;
  cosine: number;
  /** KL divergence of softmax outputs (classifiers). */
  klDiv?: number;
  /** Fraction of samples whose top-1 class matches the float model's. */
  top1Agreement?: number;
  /** Accuracy against labels (0..1), when labels were supplied. */
  accuracy?: number;
}

/** Histogram with equal-width bins between min and max. */
export interface Histogram {
  min: number;
  max: number;
  counts: number[];
}

/** Per-layer result for one candidate format. */
export interface LayerFormatResult {
  /** SQNR of Q(W) against W over the whole tensor (dB). */
  weightSqnrDb?: number;
  /** SQNR per output channel (dB). */
  weightChannelSqnrDb?: number[];
  /** SQNR of the layer's output with only this layer quantized, on float inputs (dB). */
  localSqnrDb?: number;
  /** Only this layer quantized, the rest float. */
  isolated?: EndToEndMetrics;
  /** Everything quantized except this layer. */
  allButOne?: EndToEndMetrics;
  /**
   * Predicted isolated output SQNR (dB, the unit of `isolated.sqnrDb`) from the first-order screening (gradient of
   * random output projections x quantization noise); an estimate, never measured. `isolated` is present only when
   * the layer was measured exactly.
   */
  estimate?: number;
}

/** One actionable finding about a layer, backed by numbers. */
export interface Diagnosis {
  code: 'channel-range-spread' | 'activation-outliers' | 'error-amplification' | 'depthwise-per-tensor' | 'low-bit-weights' | 'wide-weight-range' | 'sensitive-output-layer' | string;
  severity: 'info' | 'warning' | 'error';
  /** A sentence a person can act on. */
  message: string;
  /** What to try. */
  suggestion: string;
  /** The numbers behind it. */
  evidence: Record<string, number>;
}

/** Everything the report holds about one quantizable layer. */
export interface LayerReport {
  name: string;
  opType: string;
  kind: string;
  nodeIndex: number;
  params: number;
  macs?: number;
  weightTensor?: string;
  weightShape?: number[];
  weightStats?: { min: number; max: number; absMax: number; std: number; channelRangeSpread: number; outlierRatio: number; channelAbsMax: number[] };
  weightHistogram?: Histogram;
  /** The quantized input activation, its calibrated range and distribution. */
  activation?: { tensor: string; min: number; max: number; calibratedMin: number; calibratedMax: number; outlierRatio: number; histogram: Histogram };
  /** Results keyed by FormatCandidate.id. */
  formats: Record<string, LayerFormatResult>;
  diagnoses: Diagnosis[];
  /** 1 = most sensitive, under the report's primary format (measured isolated SQNR, else the estimate). */
  rank: number;
  /** True when the isolated results of this layer were measured exactly (else only estimated). */
  measured?: boolean;
  /** Why the layer has no estimate (the autodiff cannot differentiate through an op after it): it is measured instead. */
  notScreened?: string;
  /** What repair would give at the recommendation's base weight format (layer output SQNR on the calibration data). */
  repair?: LayerRepairResult;
  /** Why `repair` is missing on a layer with a weight (REPAIR_NOT_COMPUTED says it in words). */
  repairNotComputed?: RepairNotComputed;
}

/**
 * Why a layer's repair was not computed: not decisive (the default mode repairs only where the choice can hinge on it),
 * too large to repair in reasonable time, or the target is out of reach with every layer in the higher format (no
 * repair at the base format can change the recommendation then).
 */
export type RepairNotComputed = 'not-decisive' | 'too-large' | 'out-of-reach';

/** The words for each RepairNotComputed reason in tables (CLI, HTML report). */
export const REPAIR_NOT_COMPUTED: Record<RepairNotComputed, string> = {
  'not-decisive': 'not computed (not decisive)',
  'too-large': 'not computed (too large)',
  'out-of-reach': 'not computed (target out of reach)',
};

/** A layer's output SQNR (dB, on the calibration data, float inputs) with plain rounding and with each repair algorithm. */
export interface LayerRepairResult {
  /** The weight format rounded (e.g. int4/per-channel). */
  weights: string;
  rtnSqnrDb: number;
  /** SQNR per algorithm that applies to the layer (gptq, adaround, bias-correction...). */
  algorithms: Record<string, number>;
  /** The algorithm with the highest SQNR, when one beats plain rounding. */
  best?: string;
  /** Calibration rows the algorithms fitted and the weight's inputs per output (fewer rows: the fit may not hold on other data). */
  rows?: number;
  inputs?: number;
}

/** How the recommendation treats one layer, and the measured effect of that choice. */
export interface LayerRemedy {
  layer: string;
  /** keep: higher precision; repair: base format with `algorithm`; base: base format rounded to nearest. */
  remedy: 'keep' | 'repair' | 'base';
  algorithm?: string;
  /** Extra bytes over the base format (0 for repair). */
  extraBytes: number;
  /** The recommended configuration's metrics with this layer put back to the base format rounded to nearest (measured). */
  without?: EndToEndMetrics;
}

/** How the analysis spent its runs: what was estimated and what measured. */
export interface AnalysisMethod {
  /** 'all': every layer x format measured exactly; 'decisive': estimated, measured where the decision is made. */
  measure: 'all' | 'decisive';
  /** The first-order estimator of `estimate` ('fisher': Σ g²δ², 'taylor': (g·δ)²), or 'none' when screening was off. */
  estimator: 'fisher' | 'taylor' | 'none';
  /** Samples the screening ran (forward + backward each). */
  screenedSamples: number;
  /** Layers measured exactly, of all. */
  measuredLayers: number;
  /** Layers that could not be screened (measured instead). */
  unscreenedLayers: number;
  /** All-but-one runs were made. */
  allButOne: boolean;
  /** Layers the repair algorithms were tried on ('decisive': those the recommendation's choice turns on; 'all': every layer). */
  repairedLayers?: number;
  /** True when this run resumed an interrupted one (its finished steps were reused). */
  resumed?: boolean;
  /** Intra-op threads and execution providers the runs used. */
  threads?: number;
  executionProviders?: string[];
}

/** What the recommendation must achieve. */
export type Target =
  | { kind: 'max-accuracy-drop'; value: number }
  | { kind: 'min-sqnr-db'; value: number }
  | { kind: 'max-size-bytes'; value: number };

/** One verified point of the size/error trade-off. */
export interface ParetoPoint {
  /** Layers kept at higher precision, most sensitive first. */
  kept: string[];
  sizeBytes: number;
  /** Bit operations (MACs x weight bits x activation bits), when MACs are known. */
  bops?: number;
  metrics: EndToEndMetrics;
  /** True when this point was measured by running it; false: its metrics are predicted by adding the layers' estimated noises. */
  verified: boolean;
  /** Layers repaired at the base format in this point (see Recommendation.repaired). */
  repaired?: string[];
}

/** Which layers to keep in higher precision to meet the target. */
export interface Recommendation {
  base: FormatCandidate;
  higher: FormatCandidate;
  target: Target;
  met: boolean;
  /** Why it was met or not, in a sentence. */
  message: string;
  keep: string[];
  /** The verified metrics of the recommended configuration. */
  metrics: EndToEndMetrics;
  sizeBytes: number;
  floatSizeBytes: number;
  baseSizeBytes: number;
  pareto: ParetoPoint[];
  recipe: Recipe;
  /** Layers repaired at the base format (weights rounded by an algorithm instead of kept at higher precision). */
  repaired?: string[];
  /** Per layer the remedy chosen and its measured effect (kept and repaired layers). */
  remedies?: LayerRemedy[];
}

/** The whole analysis report. */
export interface AnalysisReport {
  schemaVersion: number;
  tool: { name: 'quantlens'; version: string; runtime: string };
  createdAt: string;
  model: { file: string; opset: number; params: number; macs?: number; outputs: string[]; layerCount: number };
  data: ReportData;
  formats: FormatCandidate[];
  /** The format the ranking uses. */
  primaryFormat: string;
  /** Metrics with every layer quantized, per format id (measured). */
  allQuantized: Record<string, EndToEndMetrics>;
  /** Predicted output SQNR (dB) with every layer quantized, per format id, for the formats not measured (sum of estimated noises). */
  allQuantizedEstimate?: Record<string, number>;
  /** What was estimated and what measured. */
  method?: AnalysisMethod;
  /** Present while the analysis is still running or was interrupted: the report holds what was finished. */
  partial?: { phase: string; done: number; total: number };
  /** Accuracy of the float model against labels, when labels exist. */
  floatAccuracy?: number;
  layers: LayerReport[];
  recommendation?: Recommendation;
  timings: {
    totalMs: number; captureMs: number; sensitivityMs: number; recommendationMs?: number;
    /** The isolated per-layer runs (all candidates): total, of which session creation and ORT runs. */
    isolatedMs?: number; isolatedSessionMs?: number; isolatedRunMs?: number;
    /** The first-order screening (build + forward/backward runs). */
    screeningMs?: number;
    /** Per phase of the analysis: its wall time, ONNX Runtime work and memory. */
    phases?: Record<string, PhaseCost>;
  };
  warnings: string[];
}
