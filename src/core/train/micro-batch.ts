/**
 * Gradient accumulation inside the step graph: the forward, loss and backward nodes of one micro-batch become
 * the body of an ONNX Loop that runs once per micro-batch, slicing its samples from the step's inputs and adding
 * its gradients (of the loss divided by the count) to carried sums: the sums are the average gradient (each
 * micro-batch loss is a mean over its samples, so the average is the gradient of the whole batch's mean loss) and
 * the optimizer runs once.
 * Used for models whose batch dim is fixed (feed what the model takes) and to bound the activations kept for
 * backward (only one micro-batch's are alive at a time).
 */
import { GraphBuilder, makeValueInfo } from '../onnx/builder';
import { DataType, GraphProto, NodeProto } from '../onnx/proto';
import { GradContext } from './grad-context';

/** Builds the accumulation Loop around the nodes emitted between `begin()` and `end()`. */
export class MicroBatchLoop {
  private start = -1;
  private offset = '';
  private limit = '';
  private readonly iter: string;
  private readonly condIn: string;
  private readonly pending: { outer: string; local: string; micro: number }[] = [];

  constructor(private readonly b: GraphBuilder, readonly count: number) {
    this.iter = b.fresh('accum__iter');
    this.condIn = b.fresh('accum__cond_in');
  }

  /**
   * Declares a step input holding `count` micro-batches of a tensor whose micro-batch shape is `microDims`
   * (samples on axis 0); inside the Loop the current micro-batch is the tensor `local` (default: `name`, so the
   * forward nodes read it unchanged, and the outer input is named `<name>__batch`). Returns the outer input's name.
   */
  perSampleInput(name: string, type: DataType, microDims: number[], local?: string): string {
    const outer = local === undefined && this.start < 0 ? this.b.fresh(`${name}__batch`) : name;
    this.b.input(outer, type, [microDims[0] * this.count, ...microDims.slice(1)]);
    const entry = { outer, local: local ?? (outer === name ? this.b.fresh(`${name}__micro`) : name), micro: microDims[0] };
    this.pending.push(entry);
    if (this.start >= 0) this.emitSlice(entry);
    return outer;
  }

  /** The in-Loop (current micro-batch) tensor of a step input declared with perSampleInput. */
  local(outer: string | undefined): string | undefined {
    return outer === undefined ? undefined : this.pending.find((p) => p.outer === outer)?.local;
  }

  /** Starts the Loop body: nodes emitted from now on run once per micro-batch. */
  begin(): void {
    this.start = this.b.nodes.length;
    const micro = this.pending[0]?.micro ?? 1;
    const m = this.b.constInt64('accum__micro', [micro]);
    this.offset = this.b.node('Mul', [this.b.node('Reshape', [this.iter, this.b.constInt64('accum__one_d', [1])]), m]);
    this.limit = this.b.node('Add', [this.offset, m]);
    for (const p of this.pending) this.emitSlice(p);
  }

  private emitSlice(p: { outer: string; local: string }): void {
    this.b.nodeMulti('Slice', [p.outer, this.offset, this.limit, this.b.constInt64('accum__axis0', [0])], [p.local]);
  }

  /** The loss gradient seeding a micro-batch's backward: divided by the count, so the summed gradients are the mean (no full-size pass after the Loop). */
  seed(ctx: GradContext, grad: string): string {
    return this.b.node('Mul', [grad, ctx.scalar(1 / this.count)]);
  }

  /**
   * Ends the body: gradients `[tensor, grad, shape]` (of a backward seeded with `seed`) are summed over the
   * micro-batches; returns the averaged gradients, the mean loss and the logits of all micro-batches stacked back
   * to [count * micro, ...].
   */
  end(ctx: GradContext, loss: string, logits: string, logitDims: number[], grads: [string, string, number[]][]): { grads: Map<string, string>; loss: string; logits: string } {
    const b = this.b;
    const sums = grads.map(([w, g, shape]) => {
      const inp = b.fresh(`${w}__grad_sum_in`);
      return { w, shape, inp, out: b.node('Add', [inp, g]), final: b.fresh(`${w}__grad_sum`) };
    });
    const lossOut = b.node('Identity', [loss]);
    const logitsOut = b.node('Identity', [logits]);
    const condOut = b.node('Identity', [this.condIn]);
    const nodes: NodeProto[] = b.nodes.splice(this.start);
    const body: GraphProto = {
      name: 'micro_batch_body',
      input: [makeValueInfo(this.iter, DataType.INT64, []), makeValueInfo(this.condIn, DataType.BOOL, []), ...sums.map((s) => makeValueInfo(s.inp, ctx.dtype, s.shape))],
      output: [makeValueInfo(condOut, DataType.BOOL, []), ...sums.map((s) => makeValueInfo(s.out, ctx.dtype, s.shape)), makeValueInfo(lossOut, ctx.dtype), makeValueInfo(logitsOut, ctx.dtype)],
      node: nodes,
    };
    const trips = b.constInt64('accum__trips', [this.count], []);
    const cond = b.initializer('accum__true', { type: DataType.BOOL, dims: [], data: Uint8Array.of(1) });
    const inits = sums.map((s) => ctx.zeros(s.shape));
    const lossSeq = b.fresh('accum__losses'), logitsSeq = b.fresh('accum__logits');
    b.nodeMulti('Loop', [trips, cond, ...inits], [...sums.map((s) => s.final), lossSeq, logitsSeq], { body }, { name: b.fresh('micro_batch_loop') });
    const inv = ctx.scalar(1 / this.count);
    const out = new Map(sums.map((s) => [s.w, s.final]));
    for (const s of sums) ctx.setShape(s.final, s.shape);
    const meanLoss = b.node('Mul', [b.node('ReduceSum', [lossSeq, ctx.ints([0])], { keepdims: 0 }), inv]);
    const all = b.node('Reshape', [logitsSeq, ctx.ints([logitDims[0] * this.count, ...logitDims.slice(1)])]);
    return { grads: out, loss: meanLoss, logits: all };
  }
}
