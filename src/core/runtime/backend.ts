/** The inference interface the core uses; onnxruntime-node sits behind it in ort-backend.ts. */
import { InMemoryData } from '../onnx/in-memory-data';
import { Tensor } from '../onnx/tensor-data';

/** Options for creating a session. */
export interface SessionOptions {
  /** Graph optimization level; 'all' lets ONNX Runtime fuse QDQ into integer kernels. Default 'all'. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Intra-op threads (default: the machine's cores, os.availableParallelism()). */
  threads?: number;
  /** Execution providers in order of preference (default ['cpu']), e.g. ['cuda', 'cpu']. */
  executionProviders?: readonly string[];
  /** Where ONNX Runtime should write the optimized model (to check fusion). */
  optimizedModelPath?: string;
  /**
   * Let ONNX Runtime repack constant weights for its kernels at load (faster runs, a slower load and a second copy of
   * each packed weight). Default: on, except for models of 1 GiB or more, whose load it slows from under a second to
   * a minute or more (weights are then read from the mapped external data file as they are).
   */
  prepack?: boolean;
  /** The folder external data locations are relative to, for model bytes (default: the one encodeModelProto recorded). */
  externalDataFolder?: string;
  /** Write ONNX Runtime's profile (a Chrome trace JSON, one event per node run) to a file with this prefix at release. */
  profilePrefix?: string;
  /**
   * ONNX Runtime's CPU memory arena and memory-pattern planning (default on): faster runs; off, freed buffers go
   * back to the system at once, which lowers the peak of graphs with many large temporaries.
   */
  arena?: boolean;
  /**
   * ONNX Runtime's memory-pattern planning with the arena on (default on; `arena: false` turns it off too). It makes the
   * second run of a session a slow one (mobilenet_v2's QAT step: 2.7-3.1 s instead of 0.45-0.5 s) for no faster run after.
   */
  memoryPattern?: boolean;
  /** In-memory files that external data locations of model bytes name (onnx/in-memory-data.ts encodeForRuntime). */
  externalData?: readonly InMemoryData[];
  /** Extra session configuration entries of ONNX Runtime (`session.*` keys, e.g. 'session.disable_quant_qdq'). */
  config?: Record<string, string>;
}

/** A loaded model ready to run. */
export interface RuntimeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Runs the model; returns the requested outputs (all outputs when `fetches` is omitted). Outputs named in `into` are
   * written by ONNX Runtime into those tensors (same type and dims) and returned as them: ONNX Runtime allocates no
   * buffer of its own for them (onnxruntime-node 1.30 still copies each into a fresh ArrayBuffer, which is dropped:
   * bench/ort-output-copy.bench.ts).
   * Such a tensor may also be a feed of the run when the op writing it works element by element (an accumulating Add).
   */
  run(feeds: Record<string, Tensor>, fetches?: readonly string[], into?: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>;
  /** Frees the native session. */
  release(): Promise<void>;
}

/** A big model being loaded into a session (start, then done with the time it took). */
export interface ModelLoadEvent {
  phase: 'start' | 'done';
  /** Bytes of the model: protobuf plus external data. */
  bytes: number;
  /** With 'done': seconds the load took. */
  seconds?: number;
}

/** Creates sessions from model bytes or a file path. */
export interface InferenceBackend {
  /** Told when a session of a model of at least BIG_MODEL_BYTES starts and ends loading (loads of those take seconds). */
  onBigModelLoad?: (event: ModelLoadEvent) => void;
  /** The runtime's name and version, for reports. */
  readonly version: string;
  createSession(model: Uint8Array | string, options?: SessionOptions): Promise<RuntimeSession>;
  /** The execution providers this runtime offers, and whether each ships with it (others need libraries installed). */
  executionProviders?(): { name: string; bundled: boolean }[];
}
