/**
 * Where ONNX Runtime's optimized run of an exported QDQ model departs from the simulation. With graph
 * optimizations off, the QDQ model equals buildFakeQuantModel bit for bit; with 'all' (ORT's default) some
 * patterns are rewritten into integer kernels that compute differently. Measured on onnxruntime-node 1.30,
 * x86-64 AVX2 without VNNI (test/integration/qdq-fidelity.test.ts):
 * - 8-bit signed weights next to 8-bit activations fuse into QLinearConv / QGemm / MatMulIntegerToFloat, whose
 *   u8s8 kernels sum pairs of products in int16 with saturation on CPUs without VNNI: a CNN's outputs moved by
 *   more than the quantization error itself. 7-bit weights (`int7`) or `uint8` weights fuse and match exactly.
 * - float / float16 / bfloat16 weights of a layer whose input is quantized to 8 bits: ORT quantizes the weight
 *   itself (WeightBiasQuantization) and runs an integer kernel, so the layer is not float at run time.
 * - int4/uint4 blocked MatMul weights fuse into MatMulNBits, which quantizes activations to int8 at its default
 *   accuracy level (0.1% of the output range on a small MLP).
 */
import { formatToString, NumberFormat } from '../../shared/formats';
import * as fs from 'fs';
import { QuantLayer } from '../onnx/layer';
import { QuantPlan } from './qdq-export';

/** One layer whose optimized ONNX Runtime run will differ from the simulation, and why. */
export interface FidelityWarning {
  node: string;
  kind: 'u8s8-saturation' | 'runtime-weight-quantization' | 'matmulnbits-int8-activations';
  message: string;
}

/** True when this x86 CPU has VNNI (AVX512-VNNI or AVX-VNNI); undefined when unknown (not Linux x86). */
export function cpuHasVnni(): boolean | undefined {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    if (!/\bavx2\b/.test(info)) return undefined;
    return /\b(avx512_vnni|avx_vnni)\b/.test(info);
  } catch {
    return undefined;
  }
}

const is8bitInt = (f: NumberFormat) => f.kind === 'int' && f.bits === 8;
const isFloatWeight = (f: NumberFormat | undefined) => !f || f.kind === 'float' || f.kind === 'float16' || f.kind === 'bfloat16';

/**
 * The layers of `plan` whose exported QDQ form will not run as simulated under ONNX Runtime's full graph
 * optimizations (see the module comment). `vnni` says whether the CPU has VNNI (default: detected).
 * `layers` (the inventory) tells which layers have weights and their op types; without it the float-weight
 * and MatMulNBits checks only see what the plan itself says.
 */
export function fidelityWarnings(plan: QuantPlan, opts: { vnni?: boolean; layers?: readonly QuantLayer[] } = {}): FidelityWarning[] {
  const vnni = opts.vnni ?? cpuHasVnni() ?? false;
  const byName = new Map((opts.layers ?? []).map((l) => [l.name, l]));
  const out: FidelityWarning[] = [];
  for (const l of plan) {
    const info = byName.get(l.node);
    const hasWeight = !!l.weight || !!info?.weight;
    const act8 = l.activations.some((a) => is8bitInt(a.format));
    const w = l.weight?.format;
    if (!vnni && act8 && w && w.kind === 'int' && w.bits === 8 && w.signed) {
      out.push({ node: l.node, kind: 'u8s8-saturation', message: `'${l.node}': ${formatToString(w)} weights with 8-bit activations run in ONNX Runtime's u8s8 integer kernels, which saturate on CPUs without VNNI; use int7 or uint8 weights for results equal to the simulation` });
    }
    if (act8 && isFloatWeight(w) && hasWeight && info?.kind !== 'matmul-activations') {
      out.push({ node: l.node, kind: 'runtime-weight-quantization', message: `'${l.node}': when this layer's output is quantized too, ONNX Runtime quantizes its ${w ? formatToString(w) : 'float'} weights to int8 itself (its input is 8-bit quantized), so the layer may not run in float` });
    }
    if (w && w.kind === 'int' && w.bits <= 4 && w.granularity.kind === 'block' && info?.opType === 'MatMul' && l.activations.every((a) => a.format.kind === 'float')) {
      out.push({ node: l.node, kind: 'matmulnbits-int8-activations', message: `'${l.node}': ${formatToString(w)} MatMul weights fuse into MatMulNBits, which quantizes its float input to int8 at ONNX Runtime's default accuracy level` });
    }
  }
  return out;
}
