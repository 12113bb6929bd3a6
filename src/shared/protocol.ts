/** The engine's custom LSP requests and notifications, declared once for the engine and the extension. */
import { NotificationType, ProgressType, RequestType, RequestType0 } from 'vscode-languageserver-protocol';
import type { PartialResultParams, WorkDoneProgressParams } from 'vscode-languageserver-protocol';
import type { ModelSummary } from './model-summary';
import type { AnalysisReport, EndToEndMetrics, LayerReport, Recommendation, Target } from './report';
import type { Recipe } from './recipe';
import type { QatVersusPtq, TrainedScope, TrainingProgress, TrainScopeMode } from './training';

/**
 * `initializationOptions` the engine accepts (the environment variables QUANTLENS_MEMORY_BUDGET_MB, QUANTLENS_THREADS
 * and QUANTLENS_STEP_FILE are the fallbacks; memoryBudgetMB and threads are also read from the `quantlens` settings).
 */
export interface EngineInitOptions {
  /** Memory budget for cached models, sessions and activations, in MB (default 1024). */
  memoryBudgetMB?: number;
  /** ONNX Runtime intra-op threads per session (default, or 0: the machine's cores). */
  threads?: number;
  /** A file the engine rewrites (synchronously) with its running jobs' current steps; read it after a crash. */
  stepFile?: string;
  /** Heavy jobs (all but inspect) running at once (default 2); later ones wait, shown as 'waiting for another job'. */
  maxJobs?: number;
}

/** Settings read with `workspace/didChangeConfiguration` under `quantlens` (`quantlens.memoryBudgetMB`...). */
export type EngineSettings = Pick<EngineInitOptions, 'memoryBudgetMB' | 'threads'>;

/** Each job phase is also written to stderr as one line: this prefix, then JSON `{job, kind, model, step, time}`. */
export const ENGINE_STEP_PREFIX = 'quantlens-step ';

/** JSON-RPC error codes of engine failures (besides LSPErrorCodes.RequestCancelled for cancelled jobs). */
export const EngineErrorCodes = {
  /** Bad user input (QuantLensError): `data.code` and `data.file` say what and where. */
  UserError: -32001,
  /** Params that fail the schema of src/shared/request-params.ts: `data.field` names the field. */
  InvalidParams: -32602,
  /** A bug or runtime failure; `data.stack` holds the stack. */
  InternalError: -32603,
} as const;

/** The `data` of every engine ResponseError. */
export interface EngineErrorData {
  /** QuantLensError code (`model-corrupt`...), `cancelled` or `internal`. */
  code: string;
  /** The file at fault, when there is one. */
  file?: string;
  /** The param at fault (dotted path, e.g. `data.samples`), for InvalidParams. */
  field?: string;
  /** The step the job was in. */
  step?: string;
  stack?: string;
}

/**
 * Where the data for a job comes from: `folder`, else `builtin`, else the recipe's `data` folder, else synthetic
 * inputs (32 samples; 256 for QAT). Results on synthetic data are marked as such in reports.
 */
export interface DataSpec {
  /** A folder (or single file) of .npy / PNG/JPEG images / ONNX test-data .pb files; `labels.npy` inside is used. */
  folder?: string;
  /** Labels file (.npy of integers), overriding the folder's `labels.npy`. */
  labels?: string;
  /** `mnist` uses the bundled MNIST digits (the test split; the training split for QAT). */
  builtin?: 'mnist';
  /** Maximum samples to use (default: all of a folder; 32 synthetic or MNIST samples, 256 for QAT). */
  samples?: number;
}

/** Parameters naming a model file (absolute path, or relative to the engine's working folder). */
export interface ModelParams { model: string }

/** A layer row for tables and trees. */
export interface LayerRow {
  name: string; opType: string; kind: string;
  /** Index of the node in the graph's topological order: the node number every view shows. */
  nodeIndex: number;
  params: number; macs?: number; weightShape?: number[]; channelRangeSpread?: number }

/** What opening a model returns. */
export interface ModelInfo {
  /** Absolute path of the model. */
  model: string;
  summary: ModelSummary;
  layers: LayerRow[];
  /** Things that limited the inspection (e.g. shape inference failed, so no MACs). */
  warnings: string[];
}

/** `quant/inspect`: summary and layer table of a model. */
export const InspectRequest = new RequestType<ModelParams, ModelInfo, void>('quant/inspect');

/** One node of the model graph as the graph view draws it: an operator, a graph input or a graph output. */
export interface ModelGraphNode {
  /** Unique node name (graph inputs/outputs: the tensor name). A quantizable layer has its recipe key here. */
  name: string;
  /** Operator type; `Input` / `Output` for graph inputs and outputs. */
  opType: string;
  /** Index in the graph's topological order (-1 for graph inputs and outputs). */
  index: number;
  /** `constant`: an operator computing only from constants (a weight); hidden by default. */
  role: 'op' | 'input' | 'output' | 'constant';
}

/** A tensor flowing from one node to another (indices into ModelGraph.nodes), with its shape when known. */
export interface ModelGraphEdge { from: number; to: number; tensor: string; shape?: (number | string)[] }

/** The whole graph of a model: the engine reads it, the webview lays it out. */
export interface ModelGraph { model: string; nodes: ModelGraphNode[]; edges: ModelGraphEdge[]; warnings: string[] }

/** `quant/graph`: the model's operators and the tensors between them, with shapes when known. */
export const GraphRequest = new RequestType<ModelParams, ModelGraph, void>('quant/graph');

/** `quant/closeModel`: release caches held for a model. */
export const CloseModelNotification = new NotificationType<ModelParams>('quant/closeModel');

/** Parameters of an analysis. */
export interface AnalyzeParams extends WorkDoneProgressParams, PartialResultParams {
  model: string;
  /** A recipe file or object: its defaults choose the calibration and the recommendation's base format. */
  recipe?: string | Recipe;
  data?: DataSpec;
  /** Candidate format ids or `weights:activations` pairs; default set when omitted. */
  formats?: string[];
  target?: Target;
  /** 'decisive' (default): first-order estimates everywhere, exact runs where they decide; 'all': every layer x format measured. */
  measure?: 'all' | 'decisive';
  /** All-but-one runs (default: only on models of at most 30 layers). */
  allButOne?: boolean;
  /** Samples the first-order screening reads, the first ones (default 64). */
  screeningSamples?: number;
  /** ONNX Runtime execution providers (default cpu), e.g. ['cuda']. */
  executionProviders?: string[];
  /** Also write these files (the report JSON is rewritten after each step while the analysis runs, with `partial` set). */
  reportPath?: string;
  htmlPath?: string;
  recipeOut?: string;
}

/**
 * `quant/analyze`: full per-layer analysis. With a `partialResultToken`, each layer's report is sent as soon as its
 * isolated runs are done (`AnalyzePartialResult`, one-element arrays; diagnoses and rank come only in the final
 * report); the response is always the full report, which the engine also keeps as the model's last report.
 */
export const AnalyzeRequest = new RequestType<AnalyzeParams, AnalysisReport, void>('quant/analyze');
/** The partial-result payload of `quant/analyze`. */
export const AnalyzePartialResult = new ProgressType<LayerReport[]>();

/** Parameters of evaluating one configuration (e.g. after toggling a layer). */
export interface EvaluateParams extends WorkDoneProgressParams { model: string; recipe: string | Recipe; data?: DataSpec }
/** Result of evaluating a configuration: the QDQ model export would write, run in ORT against the float model. */
export interface EvaluateResult {
  /** Measured as ONNX Runtime runs the model (full graph optimizations: fused integer kernels). */
  metrics: EndToEndMetrics;
  sizeBytes: number;
  /** The same model with graph optimizations disabled (the exact Q/DQ arithmetic, as simulated), when ONNX Runtime is predicted to deviate. */
  exactMetrics?: EndToEndMetrics;
  /** Where ONNX Runtime on this CPU does not run the model as simulated (predicted, or measured against exactMetrics), one sentence each. */
  warnings?: string[];
}
/** `quant/evaluate`: run one recipe and measure it. */
export const EvaluateRequest = new RequestType<EvaluateParams, EvaluateResult, void>('quant/evaluate');

/** Parameters of a recommendation (base default `w4a8`, higher default `w8a8`; candidate names as in `--formats`). */
export interface RecommendParams extends WorkDoneProgressParams { model: string; target: Target; base?: string; higher?: string; data?: DataSpec }
/** `quant/recommend`: which layers to keep in higher precision. */
export const RecommendRequest = new RequestType<RecommendParams, Recommendation, void>('quant/recommend');

/** Parameters of a QAT job. */
export interface QatParams extends WorkDoneProgressParams {
  model: string;
  recipe?: string | Recipe;
  data?: DataSpec;
  epochs?: number;
  steps?: number;
  lr?: number;
  batchSize?: number;
  seed?: number;
  output: string;
  /** What to train (default 'auto': everything when it fits half the machine's memory, else the quantization parameters with the weights frozen). */
  train?: TrainScopeMode;
}
/** One point of the live training curves (a TrainingProgress of `src/shared/training.ts` plus the job and model). */
export interface QatProgress extends TrainingProgress { jobId: string; model: string }
/**
 * Result of a QAT job: the QDQ model, the recipe with the learned scales (`<output>.qrecipe.json`), the training
 * log (`<output>.training-log.json`), and the output metrics against the float model on the training data
 * before (post-training quantization of the same recipe) and after training.
 */
export interface QatResult {
  output: string; recipe?: string; log: string; before: EndToEndMetrics; after: EndToEndMetrics; steps: number;
  /** `after` against `before` (plain PTQ), with the formats trained and whether QAT came out worse. */
  versusPtq: QatVersusPtq;
  /** The whole training curve (the log's points), so a panel draws the finished run whatever progress it saw. */
  curve: { step: number; loss: number; accuracy?: number; agreement?: number }[];
  /** What was trained (everything, or the quantization parameters with the weights frozen) and why. */
  trained: TrainedScope;
}
/** `quant/qat`: fine-tune with fake quantization and export. */
export const QatRequest = new RequestType<QatParams, QatResult, void>('quant/qat');
/** `quant/qatProgress`: a training-curve point. */
export const QatProgressNotification = new NotificationType<QatProgress>('quant/qatProgress');

/** Parameters of an export. */
export interface ExportParams extends WorkDoneProgressParams { model: string; recipe?: string | Recipe; data?: DataSpec; output: string }
/** Result of an export. */
export interface ExportResult {
  output: string;
  sizeBytes: number;
  floatSizeBytes: number;
  /** Measured as ONNX Runtime runs the model (full graph optimizations: fused integer kernels). */
  metrics: EndToEndMetrics;
  /** The same model with graph optimizations disabled (the exact Q/DQ arithmetic, as simulated). */
  exactMetrics?: EndToEndMetrics;
  /** Where ONNX Runtime on this CPU does not run the model as simulated (predicted, or measured against exactMetrics), one sentence each. */
  warnings?: string[];
}
/** `quant/export`: calibrate and write a QDQ model. */
export const ExportRequest = new RequestType<ExportParams, ExportResult, void>('quant/export');

/** Parameters of a layer-by-layer comparison of a float model and its quantized version. */
export interface CompareParams extends WorkDoneProgressParams { float: string; quantized: string; data?: DataSpec }
/** One matched tensor of a comparison. */
export interface TensorComparison { tensor: string; producer: string; sqnrDb: number; cosine: number; maxAbsDiff: number }
/**
 * `quant/compare`: match tensors by name and measure the difference. Intermediate tensors follow the exact Q/DQ
 * arithmetic (captured without fusion); `outputs` are measured on fully optimized sessions (fused integer kernels,
 * which can differ from the exact Q/DQ arithmetic by several dB on some CPUs), as export and evaluate measure them.
 */
export const CompareRequest = new RequestType<CompareParams, { tensors: TensorComparison[]; outputs: EndToEndMetrics }, void>('quant/compare');

/** What a job does. */
export type JobKind = 'inspect' | 'analyze' | 'qat' | 'export' | 'evaluate' | 'recommend' | 'compare';
/** What the engine holds: cached models, estimated cache memory, the budget and the running jobs. */
export interface EngineStatus { models: string[]; cacheBytes: number; budgetBytes: number; threads: number; jobs: JobInfo[] }
/** `quant/status`: the engine's caches and jobs (for a status view, and to check memory-budget behaviour). */
export const EngineStatusRequest = new RequestType0<EngineStatus, void>('quant/status');

/** A running job, for the status bar and sidebar. */
export interface JobInfo { id: string; kind: JobKind; model: string; startedAt: string; message?: string; percentage?: number }
/** `quant/jobs`: the engine's job list changed. */
export const JobsNotification = new NotificationType<{ jobs: JobInfo[] }>('quant/jobs');
/** `quant/cancelJob`: cancel a job by id (same as cancelling its request). */
export const CancelJobNotification = new NotificationType<{ id: string }>('quant/cancelJob');
/** A failed job, as reported to the user. */
export interface EngineErrorInfo { model?: string; step: string; message: string; job?: string; kind?: JobKind; code?: string; file?: string }
/** `quant/engineError`: a job failed (not sent for cancellations); carries the model and step for the user. */
export const EngineErrorNotification = new NotificationType<EngineErrorInfo>('quant/engineError');
