/** QAT progress and training-log types shared by the engine, the CLI and the VS Code UI (which plots them). */

/** One progress report of a training job (also one entry of the training log). */
export interface TrainingProgress {
  /** Optimizer steps done so far (1-based). */
  step: number;
  /** Total steps of the job. */
  totalSteps: number;
  /** Epoch (0-based, fractional while inside an epoch). */
  epoch: number;
  /** Mean training loss since the previous report. */
  loss: number;
  /** Training accuracy (0..1) on the batches since the previous report, when labels are given. */
  accuracy?: number;
  /** Top-1 agreement (0..1) with the FP32 teacher on those batches, when distilling. */
  agreement?: number;
  /** Learning rate of the last step. */
  lr: number;
  /** Global gradient norm of the last step (before clipping). */
  gradNorm?: number;
  /** Training throughput. */
  samplesPerSec: number;
  /** Estimated seconds to the end of the job. */
  etaSeconds: number;
}

/** An entry of the training log written beside the exported model. */
export type TrainingLogEntry = TrainingProgress & {
  /** Evaluation figures when an evaluation ran at this step. */
  eval?: { accuracy?: number; agreement?: number; loss?: number };
};

/** The training log file (JSON). */
export interface TrainingLog {
  version: 1;
  model: string;
  seed: number;
  optimizer: string;
  entries: TrainingLogEntry[];
  /** Why the job ended. */
  end: 'done' | 'cancelled' | 'diverged';
  /** What the run trained (absent in logs written before this field existed). */
  trained?: TrainedScope;
}

/** Which tensors QAT trains: "auto" chooses by the memory budget, "all" trains everything, "quant-params" freezes the weights. */
export type TrainScopeMode = 'auto' | 'all' | 'quant-params';

/**
 * What a QAT run trained and why: everything (weights, biases, norms, embeddings and the learned quantization scales),
 * or, when training the weights with the optimizer would not fit the memory budget (or when asked), only the
 * quantization scales and the 1-D parameters (biases, norm scales and shifts) with the weights frozen (as
 * EfficientQAT's E2E-QP does for large models).
 */
export interface TrainedScope {
  /** "all": every trainable tensor; "quant-params": quantization scales, biases and norm parameters, weights frozen. */
  kind: 'all' | 'quant-params';
  /** "requested" (by the option), "fits" (full training fits the budget) or "over-budget" (it would not). */
  reason: 'requested' | 'fits' | 'over-budget';
  /** Trained float tensors other than scales (weights, biases, norm parameters), and their values. */
  trainedTensors: number;
  trainedValues: number;
  /** Learned quantization scale tensors (weight and activation). */
  learnedScales: number;
  /** Weight tensors kept frozen, and their bytes (read by ONNX Runtime from the model, never copied per step). */
  frozenTensors: number;
  frozenBytes: number;
  /** Estimated memory of training every trainable tensor with the run's optimizer, and the budget it was compared with. */
  fullTrainingBytes: number;
  budgetBytes: number;
}

/** Number formats a QAT run trained, with how many layers use them. */
export interface TrainedFormat {
  weights: string;
  activations: string;
  layers: number;
}

/**
 * The exported QAT model against plain post-training quantization (PTQ) of the same recipe: both measured against
 * the float model's outputs on the same samples (the numbers a user compares to decide whether QAT paid off).
 */
export interface QatVersusPtq {
  /** Output SQNR (dB) against the float model: PTQ of the recipe, and the exported QAT model (first float output). */
  ptqSqnrDb: number;
  qatSqnrDb: number;
  /** Top-1 agreement with the float model (0..1), for [N, classes] outputs. */
  ptqAgreement?: number;
  qatAgreement?: number;
  /** True when QAT came out worse than PTQ (lower SQNR, or lower agreement): a result to report, not to hide. */
  qatWorse: boolean;
  /** The samples both were measured on, and whether they were synthetic. */
  samples: number;
  synthetic: boolean;
  /** The formats the run trained. */
  formats: TrainedFormat[];
}
