/**
 * What QAT trains under a memory budget. Training a weight with Adam costs about ten times its bytes in this engine
 * (see fullTrainingBytes); when that does not fit, the weights stay frozen (ONNX Runtime reads them from the model,
 * external data included, and nothing weight-sized crosses into JavaScript per step) and only the quantization
 * scales and the 1-D parameters (biases, norm scales and shifts) train: EfficientQAT's E2E-QP for large models.
 */
import * as os from 'os';
import { Graph } from '../onnx/graph';
import { sizeOf } from '../onnx/tensor-data';
import { TrainedScope, TrainScopeMode } from '../../shared/training';
import { OptimizerSpec } from './optimizer';
import { SEPARATE_OPTIMIZER_VALUES } from './split-optimizer';

/** The default memory budget of a QAT run: half the machine's memory. */
export function defaultTrainingBudget(): number {
  return os.totalmem() / 2;
}

/**
 * Estimated bytes of training `values` float32 values with `optimizer`: each tensor has c copies of state (the value,
 * plus Adam's two moments or SGD's momentum); during a run JavaScript holds the state it fed, ONNX Runtime its
 * outputs and JavaScript their copies (3c), and the step's gradients add one more: 10x the bytes for Adam, 7x for
 * SGD. (ViT-B/16, 0.34 GB of weights: 3.1 GB of state alive at the end of a run with the optimizer in the step,
 * README "Scale".) From SEPARATE_OPTIMIZER_VALUES the optimizer runs in its own session (split-optimizer.ts): the
 * state once, the gradients twice (ONNX Runtime's outputs and their copies) and, measured, three more weight-sized
 * buffers besides (the model's float weights and the step session's): 8x for Adam, 7x for SGD. (The 2.4 GB MLP,
 * every weight trained with Adam: `qat` peaked at 18.9-19.4 GB, 7.8-8.0x its 2.42 GB of weights, in the steps.)
 */
export function fullTrainingBytes(values: number, optimizer: OptimizerSpec['kind']): number {
  const copies = optimizer === 'sgd' ? 2 : 3;
  return 4 * values * (values >= SEPARATE_OPTIMIZER_VALUES ? copies + 5 : 3 * copies + 1);
}

/** The trainable tensors a run trains and the ones it keeps frozen, with the scope to report. */
export interface TrainScopeChoice {
  params: string[];
  frozen: string[];
  scope: TrainedScope;
}

/**
 * Chooses what to train among `candidates` (trainableTensors): all of them when asked, or when 'auto' and their full
 * training fits `budgetBytes`; otherwise the 1-D ones (biases, norm parameters), every weight of rank 2 or more frozen.
 */
export function chooseTrainScope(graph: Graph, candidates: string[], o: { mode?: TrainScopeMode; budgetBytes?: number; optimizer: OptimizerSpec['kind']; learnedScales: number }): TrainScopeChoice {
  const dims = (t: string) => ((graph.initializers.get(t) ?? graph.constantNodes.get(t))?.dims ?? []).map(Number);
  const budget = o.budgetBytes ?? defaultTrainingBudget();
  const full = fullTrainingBytes(candidates.reduce((n, t) => n + sizeOf(dims(t)), 0), o.optimizer);
  const mode = o.mode ?? 'auto';
  const all = mode === 'all' || (mode === 'auto' && full <= budget);
  const params = all ? candidates : candidates.filter((t) => dims(t).length <= 1);
  const frozen = all ? [] : candidates.filter((t) => dims(t).length > 1);
  const scope: TrainedScope = {
    kind: all ? 'all' : 'quant-params',
    reason: mode === 'auto' ? (all ? 'fits' : 'over-budget') : 'requested',
    trainedTensors: params.length,
    trainedValues: params.reduce((n, t) => n + sizeOf(dims(t)), 0),
    learnedScales: o.learnedScales,
    frozenTensors: frozen.length,
    frozenBytes: frozen.reduce((n, t) => n + 4 * sizeOf(dims(t)), 0),
    fullTrainingBytes: full,
    budgetBytes: budget,
  };
  return { params, frozen, scope };
}

const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;

/** One sentence saying what a run trained and why (for the CLI, the engine's progress and the README). */
export function trainedScopeMessage(s: TrainedScope): string {
  const scales = `${s.learnedScales} learned quantization scale${s.learnedScales === 1 ? '' : 's'}`;
  if (s.kind === 'all') {
    const why = s.reason === 'fits' ? ` (full training needs about ${gb(s.fullTrainingBytes)} of the ${gb(s.budgetBytes)} memory budget)` : '';
    return `Trained: all ${s.trainedTensors} weight, bias and norm tensors (${s.trainedValues.toLocaleString('en-US')} values) and ${scales}${why}`;
  }
  const small = s.trainedTensors ? ` and ${s.trainedTensors} bias/norm tensor${s.trainedTensors === 1 ? '' : 's'} (${s.trainedValues.toLocaleString('en-US')} values)` : '';
  const why = s.reason === 'over-budget'
    ? `: training them with the optimizer needs about ${gb(s.fullTrainingBytes)}, over the ${gb(s.budgetBytes)} memory budget`
    : ' (as asked)';
  return `Trained: quantization parameters only, ${scales}${small}; ${s.frozenTensors} weight tensor${s.frozenTensors === 1 ? '' : 's'} (${gb(s.frozenBytes)}) frozen${why}`;
}
