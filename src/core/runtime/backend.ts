/** The inference interface the core uses; onnxruntime-node sits behind it in ort-backend.ts. */
import { Tensor } from '../onnx/tensor-data';

/** Options for creating a session. */
export interface SessionOptions {
  /** Graph optimization level; 'all' lets ONNX Runtime fuse QDQ into integer kernels. Default 'all'. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Intra-op threads (default: 1 per core, at most 4). */
  threads?: number;
  /** Where ONNX Runtime should write the optimized model (to check fusion). */
  optimizedModelPath?: string;
}

/** A loaded model ready to run. */
export interface RuntimeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model; returns the requested outputs (all outputs when `fetches` is omitted). */
  run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
  /** Frees the native session. */
  release(): Promise<void>;
}

/** Creates sessions from model bytes or a file path. */
export interface InferenceBackend {
  /** The runtime's name and version, for reports. */
  readonly version: string;
  createSession(model: Uint8Array | string, options?: SessionOptions): Promise<RuntimeSession>;
}
