/**
 * A MatMul whose frozen weight is fake-quantized with a learned scale, as one differentiated node that keeps nothing
 * weight-sized alive between forward and backward. The generic path keeps the fake-quant intermediates of every
 * layer for the backward and forms the weight gradient x^T gy (a weight-sized tensor) only to reduce it to the scale
 * gradient; on a 2.4 GB model that was 12.7 GB of RSS. Here:
 * - forward: W_q = (clip(round(W / s), qmin - z, qmax - z)) s (the arithmetic form, bit-exact with QuantizeLinear +
 *   DequantizeLinear), y = x W_q, by row blocks of `blockBytes` (y = sum_r x[:, rows r] W_q[rows r, :]), each block
 *   freed after its MatMul. Measured on the 2.4 GB MLP: 10.4 GB in one block, 3.15 GB in 64 MiB blocks (README).
 * - backward: W_q recomputed once gy exists, from a second scale input fed the same values (a different graph input,
 *   so ONNX Runtime's common-subexpression elimination cannot merge it with the forward's), gx = gy W_q^T
 *   (Gemm with transB per block, no transposed copy; the blocks' results concatenated), and the LSQ scale gradient without the weight gradient:
 *   sum_i (x^T gy)[i,c] d[i,c] = sum_b gy[b,c] (x d)[b,c], with d = dW_q/ds = (q - z) - W/s inside the range, (q - z)
 *   outside, times 1/sqrt(N qmax) (as fake-quant.ts).
 */
import { DataType } from '../onnx/proto';
import { sizeOf } from '../onnx/tensor-data';
import { FakeQuantSpec, qRange, scaleDims, scaleInputName } from './fake-quant';
import { FwdNode, GradContext, GradRule } from './grad-context';

/** The second scale input of a fused frozen MatMul (fed the same values as scaleInputName). */
export function backwardScaleInputName(spec: FakeQuantSpec): string {
  return `${scaleInputName(spec)}__bw`;
}

/**
 * Whether the node `n` reading `spec`'s frozen weight at input 1 can be the fused node: a float MatMul with a 2-D
 * weight read by this node only, per-tensor or per-output-channel (axis 1) scales with one zero point.
 */
export function frozenMatMulApplies(ctx: GradContext, spec: FakeQuantSpec, n: FwdNode, idx: number): boolean {
  if (ctx.dtype !== DataType.FLOAT || n.opType !== 'MatMul' || idx !== 1 || spec.role !== 'weight' || spec.uses.length !== 1) return false;
  const ws = ctx.shapes.get(n.inputs[1]), xs = ctx.shapes.get(n.inputs[0]);
  if (!ws || ws.length !== 2 || !xs || xs.length < 2) return false;
  const g = spec.granularity;
  if (!(g.kind === 'tensor' || (g.kind === 'channel' && g.axis === 1))) return false;
  return spec.zeroPoint.every((z) => z === spec.zeroPoint[0]);
}

/** Bytes of a weight row block the fused node quantizes at a time (default of `blockBytes`). */
export const FROZEN_BLOCK_BYTES = 64 << 20;

/**
 * Emits the fused node's forward (into the builder) and returns the node with its gradient rule (inputs: x, scale).
 * Weights over `blockBytes` are processed in row blocks (each quantized, used and freed in turn).
 */
export function emitFrozenMatMul(ctx: GradContext, spec: FakeQuantSpec, n: FwdNode, scaleInput: string, scaleBw: string, index: number, blockBytes = FROZEN_BLOCK_BYTES): { node: FwdNode; rule: GradRule } {
  const [x, w] = n.inputs;
  const ws = ctx.shape(w), xs = ctx.shape(x);
  const [K, N] = ws;
  const M = sizeOf(xs.slice(0, -1));
  const rowsPer = Math.max(1, Math.floor(blockBytes / (4 * N)));
  const blocks = Array.from({ length: Math.ceil(K / rowsPer) }, (_, r) => [r * rowsPer, Math.min(K, (r + 1) * rowsPer)] as const);
  const [qmin, qmax] = qRange(spec.bits, spec.signed);
  const z0 = spec.zeroPoint[0] ?? 0;
  const lo = ctx.scalar(qmin - z0), hi = ctx.scalar(qmax - z0);
  const perChannel = spec.granularity.kind === 'channel';
  /**
   * Rows [a, b) of the weight, W / s and the quantized weight (q - z) s from scale input `s`, computed only once
   * `dep` is: the scale (and the rows' start) pass through Where(isnan(max(dep)), v, v), exactly v, so ONNX Runtime
   * can neither compute every block up front and keep them alive nor fold the slices into weight-sized constants.
   */
  const quantized = (s: string, dep: string, [a, b]: readonly [number, number]) => {
    const cond = ctx.op('IsNaN', [ctx.op('ReduceMax', [dep], { keepdims: 0 })]);
    const sv = ctx.op('Where', [cond, s, s]);
    const sb = perChannel ? ctx.reshape(sv, [1, N]) : sv;
    let rows = w;
    if (blocks.length > 1) {
      const start = ctx.ints([a]);
      rows = ctx.op('Slice', [w, ctx.op('Where', [cond, start, start]), ctx.ints([b]), ctx.ints([0])]);
    }
    const div = ctx.op('Div', [rows, sb]);
    const qc = ctx.op('Clip', [ctx.op('Round', [div]), lo, hi]);
    return { div, qc, wq: ctx.op('Mul', [qc, sb]) };
  };
  const cols = (t: string, [a, b]: readonly [number, number]) => (blocks.length > 1 ? ctx.op('Slice', [t, ctx.ints([a]), ctx.ints([b]), ctx.ints([1])]) : t);
  if (blocks.length === 1) {
    ctx.b.nodes.push({ ...n.proto, input: [x, quantized(scaleInput, x, blocks[0]).wq], output: n.outputs });
  } else {
    const x2 = xs.length === 2 ? x : ctx.reshape(x, [M, K]);
    let acc = x2;
    blocks.forEach((blk, r) => {
      const part = ctx.op('MatMul', [cols(x2, blk), quantized(scaleInput, acc, blk).wq]);
      acc = r === 0 ? part : ctx.op('Add', [acc, part]);
    });
    ctx.b.nodes.push({ op_type: 'Reshape', domain: '', name: n.name, input: [acc, ctx.ints([...xs.slice(0, -1), N])], output: n.outputs });
  }
  const name = `FrozenQuantMatMul#${index}:${n.name}`;
  const node: FwdNode = { name, opType: 'FrozenQuantMatMul', inputs: [x, scaleInput], outputs: n.outputs, proto: { op_type: 'FrozenQuantMatMul', domain: 'quantlens', name } };
  const rule: GradRule = (c, _n, [gy]) => {
    if (!gy) return [];
    const gy2 = xs.length === 2 ? gy : c.reshape(gy, [M, N]);
    const x2 = xs.length === 2 ? x : c.reshape(x, [M, K]);
    const needX = c.needs(x);
    const gxs: string[] = [];
    let xd: string | undefined;
    let dep = gy2;
    for (const blk of blocks) {
      const q = quantized(scaleBw, dep, blk);
      if (needX) {
        dep = c.op('Gemm', [gy2, q.wq], { transB: 1 });
        gxs.push(dep);
      }
      if (spec.learnScale) {
        const inside = c.op('Equal', [c.op('Clip', [q.div, lo, hi]), q.div]);
        const d = c.op('Sub', [q.qc, c.op('Where', [inside, q.div, c.scalar(0)])]);
        const part = c.op('MatMul', [cols(x2, blk), d]);
        xd = xd ? c.op('Add', [xd, part]) : part;
        dep = xd;
      }
    }
    const out: (string | undefined)[] = [undefined, undefined];
    if (needX) {
      const gx = gxs.length === 1 ? gxs[0] : c.op('Concat', gxs, { axis: 1 });
      out[0] = xs.length === 2 ? gx : c.reshape(gx, xs);
    }
    if (xd) {
      const prod = c.op('Mul', [gy2, xd]);
      const gscale = 1 / Math.sqrt((sizeOf(ws) / Math.max(1, sizeOf(scaleDims(ws, spec.granularity)))) * Math.max(1, qmax));
      const sum = c.op('ReduceSum', perChannel ? [prod, c.ints([0])] : [prod], { keepdims: 0 });
      out[1] = c.op('Mul', [sum, c.scalar(gscale)]);
    }
    return out;
  };
  return { node, rule };
}
