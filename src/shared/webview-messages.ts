/** Every message between the extension and its webviews (model view, report panel, QAT panel), typed once. */
import type { AnalysisReport, EndToEndMetrics, LayerReport, Target } from './report';
import type { EvaluateResult, ExportResult, JobInfo, ModelGraph, ModelInfo, QatProgress, QatResult, TensorComparison } from './protocol';
import type { Recipe } from './recipe';

/** Which UI a webview shows; written into the page as `data-view`. */
export type WebviewKind = 'model' | 'report' | 'qat' | 'graph' | 'compare';

/** The data the extension writes into the page (`data-boot`, JSON) so the first paint needs no round trip. */
export interface WebviewBoot {
  kind: WebviewKind;
  /** Absolute path of the model the view is about. */
  model: string;
  /** File name for titles. */
  modelName: string;
  /** UI state of the panel this one replaces after a reload (see WebviewPersistedState.ui). */
  ui?: Record<string, unknown>;
}

/** State a webview keeps with `setState` so it restores after a reload. */
export interface WebviewPersistedState {
  kind: WebviewKind;
  model: string;
  /** Report panel: sort, filter, selected layer, toggles. */
  ui?: Record<string, unknown>;
}

// ---- extension -> webview -------------------------------------------------------------

/** The model view's summary and layer table. */
export interface ModelInfoMessage { type: 'modelInfo'; info: ModelInfo }
/** Opening the model failed (corrupt or unsupported file): shown in the view. */
export interface ModelErrorMessage { type: 'modelError'; file: string; message: string }
/** A whole report (initial load, restore, or the final result of an analysis). */
export interface ReportMessage { type: 'report'; report: AnalysisReport; final: boolean }
/** Layers streamed as partial results while an analysis runs. */
export interface LayersMessage { type: 'layers'; layers: LayerReport[] }
/** Analysis progress/status for the panel's banner. */
export interface StatusMessage { type: 'status'; running: boolean; message?: string; percentage?: number; error?: string }
/** The answer to an `evaluate` request. */
export interface EvaluationMessage { type: 'evaluation'; requestId: number; keep: string[]; result?: EvaluateResult; error?: string }
/** Scroll to and select a layer (from the sidebar or `quantlens.showLayer`). */
export interface RevealLayerMessage { type: 'revealLayer'; layer: string }
/** An export finished (or failed). */
export interface ExportDoneMessage { type: 'exportDone'; result?: ExportResult; error?: string }
/** A recipe was written. */
export interface RecipeSavedMessage { type: 'recipeSaved'; path: string }
/** A QAT run started from this panel. */
export interface QatStartedMessage { type: 'qatStarted'; output: string; totalSteps?: number }
/** One live training-curve point. */
export interface QatPointMessage { type: 'qatPoint'; point: QatProgress }
/** A QAT run finished. */
export interface QatDoneMessage { type: 'qatDone'; result: QatResult }
/** A QAT run failed or was cancelled. */
export interface QatErrorMessage { type: 'qatError'; message: string; cancelled: boolean }
/** The engine's job list (for progress shown inside panels). */
export interface JobsMessage { type: 'jobs'; jobs: JobInfo[] }

/** The model graph for the graph view. */
export interface GraphMessage { type: 'graph'; graph: ModelGraph }
/** The layers the report panel currently keeps in higher precision (the graph colours by it). */
export interface KeptMessage { type: 'kept'; keep: string[] }
/** The recommendation target in the settings (sent when it changes outside the panel). */
export interface TargetMessage { type: 'target'; target: Target }

/** The compare view: the workspace's models to choose from, the chosen pair, and the comparison (or its state). */
export interface CompareDataMessage {
  type: 'compareData'; models: string[]; float?: string; quantized?: string; running?: boolean; error?: string;
  result?: { tensors: TensorComparison[]; outputs: EndToEndMetrics };
}

/** Everything the extension sends to a webview. */
export type ToWebviewMessage =
  | ModelInfoMessage | ModelErrorMessage | ReportMessage | LayersMessage | StatusMessage | EvaluationMessage
  | RevealLayerMessage | ExportDoneMessage | RecipeSavedMessage | QatStartedMessage | QatPointMessage
  | QatDoneMessage | QatErrorMessage | JobsMessage | GraphMessage | KeptMessage | TargetMessage | CompareDataMessage;

// ---- webview -> extension -------------------------------------------------------------

/** The page has loaded and listens: send it what it needs. */
export interface ReadyMessage { type: 'ready' }
/** Run an analysis of the view's model. */
export interface AnalyzeMessage { type: 'analyze' }
/** Run QAT (steps override the setting when given); the recipe is the panel's current configuration. */
export interface RunQatMessage { type: 'runQat'; steps?: number; recipe?: Recipe }
/**
 * Export a QDQ model with this recipe (the default recipe when omitted). `missesTarget` says, in a sentence, why the
 * selection does not meet (or is not known to meet) the target: the extension then asks before exporting.
 */
export interface ExportMessage { type: 'export'; recipe?: Recipe; missesTarget?: string; recommendedRecipe?: Recipe }
/** Write this recipe beside the model. */
export interface SaveRecipeMessage { type: 'saveRecipe'; recipe: Recipe }
/** Evaluate a configuration (after a precision toggle). */
export interface EvaluateMessage { type: 'evaluate'; requestId: number; keep: string[]; recipe: Recipe }
/** Cancel the view's running job. */
export interface CancelMessage { type: 'cancel' }
/** Open the report panel of the view's model. */
export interface OpenReportMessage { type: 'openReport'; layer?: string }
/** The user selected a layer (sidebar follows). */
export interface SelectLayerMessage { type: 'selectLayer'; layer: string }

/** Open the graph view of the model (revealing a layer). */
export interface OpenGraphMessage { type: 'openGraph'; layer?: string }
/** The target was changed in the report panel: store it in the settings. */
export interface SetTargetMessage { type: 'setTarget'; target: Target }
/** The report panel's kept layers changed (the graph and sidebar follow). */
export interface KeptChangedMessage { type: 'keptChanged'; keep: string[] }
/** Compare view: compare the chosen models. */
export interface CompareModelsMessage { type: 'compareModels'; float: string; quantized: string }

/** Everything a webview sends to the extension. */
export type FromWebviewMessage =
  | ReadyMessage | AnalyzeMessage | RunQatMessage | ExportMessage | SaveRecipeMessage | EvaluateMessage
  | CancelMessage | OpenReportMessage | SelectLayerMessage | OpenGraphMessage | SetTargetMessage | KeptChangedMessage | CompareModelsMessage;

/** Before/after metrics of a QAT run, as the QAT panel shows them. */
export type BeforeAfter = { before: EndToEndMetrics; after: EndToEndMetrics };
