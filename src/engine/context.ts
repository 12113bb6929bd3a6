/** What the engine gives the recipe language features (H8): model lookups and the last analysis report. */
import type { ModelProto } from '../core/onnx/proto';
import type { Graph } from '../core/onnx/graph';
import type { QuantLayer } from '../core/onnx/layer';
import type { AnalysisReport } from '../shared/report';

/** A model the engine has loaded: decoded proto, graph IR and layer inventory (cached until closed). */
export interface LoadedModel {
  /** Absolute path of the model file. */
  path: string;
  model: ModelProto;
  graph: Graph;
  /** Quantizable layers in topological order (recipe keys are their `name`s). */
  inventory: QuantLayer[];
  /** Size of the model file in bytes. */
  fileBytes: number;
}

/** Services the engine offers to its language features and request handlers. */
export interface EngineContext {
  /** Loads (or returns the cached) model at `path` (absolute or relative to the engine's cwd); rejects with a QuantLensError naming the file. */
  getModel(path: string): Promise<LoadedModel>;
  /** The cached model at `path` when it is already loaded, without loading it. */
  peekModel(path: string): LoadedModel | undefined;
  /** The last analysis report computed in this engine for the model at `path`, if any. */
  getLastReport(modelPath: string): AnalysisReport | undefined;
  /** Calls `listener` whenever a model's report changes (e.g. to refresh recipe diagnostics); returns an unsubscribe function. */
  onDidChangeReport(listener: (modelPath: string) => void): () => void;
  /** Writes a line to the engine log (stderr / the client's output channel). */
  log(message: string): void;
}
