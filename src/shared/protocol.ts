/** The engine's custom LSP requests and notifications, declared once for the engine and the extension. */
import { NotificationType, ProgressType, RequestType } from 'vscode-languageserver-protocol';
import type { AnalysisReport, EndToEndMetrics, LayerReport, Recommendation, Target } from './report';
import type { Recipe } from './recipe';

/** Where the data for a job comes from. */
export interface DataSpec {
  /** A folder of .npy / images / .pb files; omitted = synthetic inputs. */
  folder?: string;
  /** Labels file (.npy of integers). */
  labels?: string;
  /** `mnist` uses the bundled MNIST test digits. */
  builtin?: 'mnist';
  /** Maximum samples to use. */
  samples?: number;
}

/** Parameters naming a model file. */
export interface ModelParams { model: string }

/** A layer row for tables and trees. */
export interface LayerRow { name: string; opType: string; kind: string; params: number; macs?: number; weightShape?: number[]; channelRangeSpread?: number }

/** What opening a model returns. */
export interface ModelInfo {
  model: string;
  summary: unknown; // ModelSummary from model-summary.ts once it exists
  layers: LayerRow[];
}

/** `quant/inspect`: summary and layer table of a model. */
export const InspectRequest = new RequestType<ModelParams, ModelInfo, void>('quant/inspect');

/** `quant/closeModel`: release caches held for a model. */
export const CloseModelNotification = new NotificationType<ModelParams>('quant/closeModel');

/** Parameters of an analysis. */
export interface AnalyzeParams {
  model: string;
  recipe?: string;
  data?: DataSpec;
  /** Candidate format ids or `weights:activations` pairs; default set when omitted. */
  formats?: string[];
  target?: Target;
  /** Also write these files. */
  reportPath?: string;
  htmlPath?: string;
  recipeOut?: string;
}

/** `quant/analyze`: full per-layer analysis; streams `LayerReport`s as partial results. */
export const AnalyzeRequest = new RequestType<AnalyzeParams, AnalysisReport, void>('quant/analyze');
/** The partial-result payload of `quant/analyze`. */
export const AnalyzePartialResult = new ProgressType<LayerReport[]>();

/** Parameters of evaluating one configuration (e.g. after toggling a layer). */
export interface EvaluateParams { model: string; recipe: Recipe; data?: DataSpec }
/** Result of evaluating a configuration. */
export interface EvaluateResult { metrics: EndToEndMetrics; sizeBytes: number }
/** `quant/evaluate`: run one recipe and measure it. */
export const EvaluateRequest = new RequestType<EvaluateParams, EvaluateResult, void>('quant/evaluate');

/** Parameters of a recommendation from the cached analysis. */
export interface RecommendParams { model: string; target: Target; base?: string; higher?: string; data?: DataSpec }
/** `quant/recommend`: which layers to keep in higher precision. */
export const RecommendRequest = new RequestType<RecommendParams, Recommendation, void>('quant/recommend');

/** Parameters of a QAT job. */
export interface QatParams {
  model: string;
  recipe?: string | Recipe;
  data?: DataSpec;
  epochs?: number;
  steps?: number;
  lr?: number;
  batchSize?: number;
  seed?: number;
  output: string;
}
/** One point of the live training curves. */
export interface QatProgress { jobId: string; step: number; totalSteps: number; epoch: number; loss: number; accuracy?: number; agreement?: number; lr: number; etaSeconds?: number }
/** Result of a QAT job. */
export interface QatResult { output: string; recipe?: string; log: string; before: EndToEndMetrics; after: EndToEndMetrics; steps: number }
/** `quant/qat`: fine-tune with fake quantization and export. */
export const QatRequest = new RequestType<QatParams, QatResult, void>('quant/qat');
/** `quant/qatProgress`: a training-curve point. */
export const QatProgressNotification = new NotificationType<QatProgress>('quant/qatProgress');

/** Parameters of an export. */
export interface ExportParams { model: string; recipe?: string | Recipe; data?: DataSpec; output: string }
/** Result of an export. */
export interface ExportResult { output: string; sizeBytes: number; floatSizeBytes: number; metrics: EndToEndMetrics }
/** `quant/export`: calibrate and write a QDQ model. */
export const ExportRequest = new RequestType<ExportParams, ExportResult, void>('quant/export');

/** Parameters of a layer-by-layer comparison of a float model and its quantized version. */
export interface CompareParams { float: string; quantized: string; data?: DataSpec }
/** One matched tensor of a comparison. */
export interface TensorComparison { tensor: string; producer: string; sqnrDb: number; cosine: number; maxAbsDiff: number }
/** `quant/compare`: match tensors by name and measure the difference. */
export const CompareRequest = new RequestType<CompareParams, { tensors: TensorComparison[]; outputs: EndToEndMetrics }, void>('quant/compare');

/** A running job, for the status bar and sidebar. */
export interface JobInfo { id: string; kind: 'analyze' | 'qat' | 'export' | 'evaluate' | 'compare'; model: string; startedAt: string; message?: string; percentage?: number }
/** `quant/jobs`: the engine's job list changed. */
export const JobsNotification = new NotificationType<{ jobs: JobInfo[] }>('quant/jobs');
/** `quant/cancelJob`: cancel a job by id (same as cancelling its request). */
export const CancelJobNotification = new NotificationType<{ id: string }>('quant/cancelJob');
/** `quant/engineError`: a job failed; carries the model and step for the user. */
export const EngineErrorNotification = new NotificationType<{ model?: string; step: string; message: string }>('quant/engineError');
