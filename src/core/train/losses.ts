/** Training losses emitted as ONNX ops with their gradient: cross-entropy with labels, distillation (KL with temperature, or MSE), or both. */
import { GradContext } from './grad-context';

/** Which loss a training step minimises. */
export interface LossSpec {
  /** Weight of cross-entropy against one-hot labels (0 = none). */
  crossEntropy: number;
  /** Weight of the distillation term against teacher (FP32) outputs (0 = none). */
  distill: number;
  /** Distillation kind: KL divergence of softened softmaxes, or mean squared error of outputs. */
  distillKind: 'kl' | 'mse';
  /** Softmax temperature of KL distillation. */
  temperature: number;
}

/** Loss graph inputs and outputs. */
export interface LossTensors {
  loss: string;
  /** Gradient of the loss with respect to the logits. */
  grad: string;
}

/**
 * Emits the loss of `logits` ([B, C], class axis last) given graph inputs `labels` (one-hot, same shape) and/or
 * `teacher` (teacher logits, same shape). Loss is averaged over the batch.
 */
export function emitLoss(ctx: GradContext, spec: LossSpec, logits: string, dims: number[], labels?: string, teacher?: string): LossTensors {
  const B = dims[0];
  const classAxis = dims.length - 1;
  const losses: string[] = [];
  const grads: string[] = [];
  const all = ctx.ints(dims.map((_, i) => i));
  if (spec.crossEntropy > 0 && labels) {
    const logp = ctx.op('LogSoftmax', [logits], { axis: classAxis });
    const l = ctx.op('Mul', [ctx.op('ReduceSum', [ctx.op('Mul', [labels, logp]), all], { keepdims: 0 }), ctx.scalar(-spec.crossEntropy / B)]);
    losses.push(l);
    grads.push(ctx.op('Mul', [ctx.op('Sub', [ctx.op('Exp', [logp]), labels]), ctx.scalar(spec.crossEntropy / B)]));
  }
  if (spec.distill > 0 && teacher) {
    if (spec.distillKind === 'kl') {
      const T = spec.temperature;
      const invT = ctx.scalar(1 / T);
      const logpt = ctx.op('LogSoftmax', [ctx.op('Mul', [teacher, invT])], { axis: classAxis });
      const pt = ctx.op('Exp', [logpt]);
      const logps = ctx.op('LogSoftmax', [ctx.op('Mul', [logits, invT])], { axis: classAxis });
      const kl = ctx.op('ReduceSum', [ctx.op('Mul', [pt, ctx.op('Sub', [logpt, logps])]), all], { keepdims: 0 });
      losses.push(ctx.op('Mul', [kl, ctx.scalar((spec.distill * T * T) / B)]));
      grads.push(ctx.op('Mul', [ctx.op('Sub', [ctx.op('Exp', [logps]), pt]), ctx.scalar((spec.distill * T) / B)]));
    } else {
      const n = dims.reduce((a, b) => a * b, 1);
      const d = ctx.op('Sub', [logits, teacher]);
      losses.push(ctx.op('Mul', [ctx.op('ReduceSum', [ctx.op('Mul', [d, d]), all], { keepdims: 0 }), ctx.scalar(spec.distill / n)]));
      grads.push(ctx.op('Mul', [d, ctx.scalar((2 * spec.distill) / n)]));
    }
  }
  if (!losses.length) throw new Error('the loss has no term: give labels (cross-entropy) or a teacher (distillation)');
  const loss = losses.length === 1 ? losses[0] : ctx.op('Sum', losses);
  const grad = grads.length === 1 ? grads[0] : ctx.op('Sum', grads);
  return { loss, grad };
}
