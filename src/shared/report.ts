/** The analysis report (schema version 1): what `quantlens analyze` writes and the report panel shows. */
import type { Recipe } from './recipe';

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
  /** First-order (gradient x noise) estimate of the output error, for ranking before exact runs. */
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
  /** 1 = most sensitive, under the report's primary format. */
  rank: number;
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
  /** True when this point was measured by running it, not estimated. */
  verified: boolean;
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
  /** Metrics with every layer quantized, per format id. */
  allQuantized: Record<string, EndToEndMetrics>;
  /** Accuracy of the float model against labels, when labels exist. */
  floatAccuracy?: number;
  layers: LayerReport[];
  recommendation?: Recommendation;
  timings: {
    totalMs: number; captureMs: number; sensitivityMs: number; recommendationMs?: number;
    /** One float pass over the data with the optimized model. */
    floatPassMs?: number;
    /** The isolated per-layer runs (all candidates): total, of which session creation and ORT runs. */
    isolatedMs?: number; isolatedSessionMs?: number; isolatedRunMs?: number;
  };
  warnings: string[];
}
