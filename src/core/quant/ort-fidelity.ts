/**
 * Where ONNX Runtime's optimized run of an exported QDQ model departs from the simulation. With graph
 * optimizations off, the QDQ model equals buildFakeQuantModel bit for bit; with 'all' (ORT's default) some
 * patterns are rewritten into integer kernels that compute differently. Measured on onnxruntime-node 1.30,
 * x86-64 AVX2 without VNNI (test/integration/qdq-fidelity.test.ts, fidelity-*.test.ts), SQNR fused vs exact:
 * - int8 weights next to uint8 activations fuse into QLinearConv / QGemm / MatMulIntegerToFloat, whose u8s8
 *   kernels sum pairs of products in int16 with saturation on CPUs without VNNI (7-layer MLP 23.0 vs 33.7 dB,
 *   small CNN 27.1 vs 44.0 dB). `int7` or `uint8` weights, and int8 (signed) activations, match exactly.
 * - float / float16 / bfloat16 / float8 weights of a layer whose input is quantized to a native 4, 8 or 16-bit
 *   type: ORT quantizes the weight itself (WeightBiasQuantization), so the layer does not run with the simulated
 *   weights (float:uint8 28.4 vs 37.8 dB, float:int16 35.4 vs 80.7 dB, float:int4 -14 vs 7.4 dB). Other widths
 *   (uint7, int6...) keep a Clip between Q/DQ and the layer and are not rewritten.
 * - int4/uint4 blocked MatMul weights fuse into MatMulNBits, which quantizes activations to int8 at its default
 *   accuracy level (0.1% of the output range on a small MLP).
 * - 4-bit activations (native int4/uint4, opset 21): signed int4 inputs are mis-computed by the optimized run
 *   (MLP -14 vs 7.4 dB, CNN -3 vs 16.6 dB), and 4-bit inputs of Conv fuse into a QLinearConv that fails to load.
 * Conv and Gemm fuse only when their output is quantized again (PaddleOCR cls: 9 of 53 Conv layers, the rest are
 * followed by an unfolded BatchNormalization), as does a MatMul that becomes a Gemm (2-D input and a bias Add,
 * known from `shapes`); without the graph or the shapes the u8s8 check over-approximates.
 */
import { formatToString, NumberFormat } from '../../shared/formats';
import * as fs from 'fs';
import type { Graph } from '../onnx/graph';
import { QuantLayer } from '../onnx/layer';
import { QuantPlan } from './qdq-export';

/** One layer whose optimized ONNX Runtime run will differ from the simulation, and why. */
export interface FidelityWarning {
  node: string;
  kind: 'u8s8-saturation' | 'runtime-weight-quantization' | 'matmulnbits-int8-activations' | 'int4-activations';
  message: string;
}

/** Whether ONNX Runtime's u8s8 kernels saturate here: 'no-vnni' (they do), 'vnni' or 'not-x86' (they don't), 'unknown'. */
export type U8s8Risk = 'no-vnni' | 'vnni' | 'not-x86' | 'unknown';

/**
 * True when this x86 CPU has VNNI (the `avx512_vnni` or `avx_vnni` flag of /proc/cpuinfo), false when its flags
 * lack both, undefined when unknown (not Linux on x86: other systems are not guessed at).
 */
export function cpuHasVnni(cpuinfo?: string, arch: string = process.arch, platform: string = process.platform): boolean | undefined {
  if (arch !== 'x64' && arch !== 'ia32') return undefined;
  let info = cpuinfo;
  if (info === undefined) {
    if (platform !== 'linux') return undefined;
    try {
      info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const flags = /^flags\s*:(.*)$/m.exec(info);
  if (!flags) return undefined;
  return /(^|\s)(avx512_vnni|avx_vnni)(\s|$)/.test(flags[1]);
}

/**
 * The u8s8 saturation risk given `vnni` (cpuHasVnni()) and the architecture: x86 without VNNI saturates (pmaddubsw sums pairs of products in int16);
 * ARM and other CPUs use kernels without that overflow; x86 whose flags cannot be read is 'unknown'.
 */
export function u8s8Risk(vnni: boolean | undefined, arch: string = process.arch): U8s8Risk {
  if (vnni !== undefined) return vnni ? 'vnni' : 'no-vnni';
  return arch === 'x64' || arch === 'ia32' ? 'unknown' : 'not-x86';
}

const isUint8 = (f: NumberFormat) => f.kind === 'int' && f.bits === 8 && !f.signed;
/** Integer widths ONNX Runtime stores natively (no Clip after DequantizeLinear), so its QDQ rewrites see them. */
const isNativeInt = (f: NumberFormat) => f.kind === 'int' && (f.bits === 4 || f.bits === 8 || f.bits === 16);
const isFloatWeight = (f: NumberFormat | undefined) => !f || f.kind === 'float' || f.kind === 'float16' || f.kind === 'bfloat16' || f.kind === 'float8';

/** Options of fidelityWarnings and fidelityMessages. */
export interface FidelityOptions {
  /** Whether the CPU has VNNI; default detected (cpuHasVnni), unknown on x86 warns with a hedge. */
  vnni?: boolean;
  /** The inventory: which layers have weights and their op types. */
  layers?: readonly QuantLayer[];
  /** The CPU architecture when `vnni` is not given (default process.arch). */
  arch?: string;
  /**
   * The float model's graph: with it, Conv and Gemm layers count as fused into u8s8 kernels only when their output
   * is quantized again (QLinearConv/QGemm need a QuantizeLinear after them, past a Relu/Clip or a bias Add).
   */
  graph?: Pick<Graph, 'consumers' | 'isConstant'>;
  /** Tensor shapes (inferShapes): a MatMul with a 2-D input and a bias Add becomes a Gemm, which fuses only when re-quantized. */
  shapes?: ReadonlyMap<string, readonly number[]>;
}

/** Ops ONNX Runtime folds between a fused integer kernel and the QuantizeLinear after it. */
const FOLDED_AFTER = new Set(['Relu', 'Clip', 'Add']);

/** True when `tensor` reaches a quantized activation of the plan through at most a few folded single-consumer ops. */
function requantized(tensor: string, quantized: ReadonlySet<string>, graph: NonNullable<FidelityOptions['graph']>): boolean {
  let t = tensor;
  for (let hop = 0; hop < 4; hop++) {
    if (quantized.has(t)) return true;
    const next = graph.consumers.get(t) ?? [];
    if (next.length !== 1 || !FOLDED_AFTER.has(next[0].opType)) return false;
    const n = next[0];
    if (n.opType === 'Add' && !n.inputs.some((i) => i !== t && graph.isConstant(i))) return false;
    t = n.outputs[0];
  }
  return false;
}

/**
 * The layers of `plan` whose exported QDQ form will not run as simulated under ONNX Runtime's full graph
 * optimizations (see the module comment). `vnni` says whether the CPU has VNNI (default: detected; on x86 CPUs
 * whose flags cannot be read the u8s8 warning is given, hedged; on other architectures it is not).
 * `layers` (the inventory) tells which layers have weights and their op types; without it the float-weight
 * and MatMulNBits checks only see what the plan itself says.
 */
export function fidelityWarnings(plan: QuantPlan, opts: FidelityOptions = {}): FidelityWarning[] {
  const risk = opts.vnni !== undefined ? u8s8Risk(opts.vnni) : u8s8Risk(cpuHasVnni(undefined, opts.arch ?? process.arch), opts.arch ?? process.arch);
  const byName = new Map((opts.layers ?? []).map((l) => [l.name, l]));
  const quantized = new Set(plan.flatMap((l) => l.activations.filter((a) => a.format.kind !== 'float').map((a) => a.tensor)));
  /** Whether a MatMul turns into a Gemm first (2-D input, bias Add after it). */
  const becomesGemm = (info: QuantLayer) => {
    const next = opts.graph!.consumers.get(info.outputs[0]) ?? [];
    return opts.shapes?.get(info.activationInputs[0])?.length === 2 && next.length === 1 && next[0].opType === 'Add' && next[0].inputs.some((i) => opts.graph!.isConstant(i));
  };
  /** Whether the layer becomes an integer kernel: MatMul (MatMulIntegerToFloat) unless it becomes a Gemm; Conv/Gemm when re-quantized. */
  const fuses = (info: QuantLayer | undefined) => !opts.graph || !info || (info.opType === 'MatMul' && !becomesGemm(info)) || info.outputs.some((o) => requantized(o, quantized, opts.graph!));
  const out: FidelityWarning[] = [];
  for (const l of plan) {
    const info = byName.get(l.node);
    const hasWeight = !!l.weight || !!info?.weight;
    const actU8 = l.activations.some((a) => isUint8(a.format));
    const actNative = l.activations.some((a) => isNativeInt(a.format));
    const w = l.weight?.format;
    if ((risk === 'no-vnni' || risk === 'unknown') && actU8 && w && w.kind === 'int' && w.bits === 8 && w.signed && fuses(info)) {
      const cpu = risk === 'unknown' ? 'may saturate (this CPU\'s VNNI support could not be read)' : 'saturate on CPUs without VNNI';
      out.push({ node: l.node, kind: 'u8s8-saturation', message: `'${l.node}': ${formatToString(w)} weights with uint8 activations run in ONNX Runtime's u8s8 integer kernels, which ${cpu}; use int7 or uint8 weights for results equal to the simulation` });
    }
    if (actNative && isFloatWeight(w) && hasWeight && info?.kind !== 'matmul-activations') {
      out.push({ node: l.node, kind: 'runtime-weight-quantization', message: `'${l.node}': its input is quantized, so ONNX Runtime quantizes its ${w ? formatToString(w) : 'float'} weights itself and the layer does not run with the simulated weights` });
    }
    const int4 = l.activations.find((a) => a.format.kind === 'int' && a.format.bits === 4 && (a.format.signed || info?.opType === 'Conv'));
    if (int4) {
      out.push({ node: l.node, kind: 'int4-activations', message: `'${l.node}': ${formatToString(int4.format)} activations: ONNX Runtime's optimized run ${info?.opType === 'Conv' ? 'fuses this Conv into a QLinearConv that does not accept 4-bit inputs (the model fails to load)' : 'mis-computes signed 4-bit inputs'}; use 8-bit activations` });
    }
    if (w && w.kind === 'int' && w.bits <= 4 && w.granularity.kind === 'block' && info?.opType === 'MatMul' && l.activations.every((a) => a.format.kind === 'float')) {
      out.push({ node: l.node, kind: 'matmulnbits-int8-activations', message: `'${l.node}': ${formatToString(w)} MatMul weights fuse into MatMulNBits, which quantizes its float input to int8 at ONNX Runtime's default accuracy level` });
    }
  }
  return out;
}

/** `'a', 'b', 'c' and 2 more (5 layers)`: the first few names of a list, and the count. */
export function nameLayers(names: readonly string[], first = 3): string {
  const shown = names.slice(0, first).map((n) => `'${n}'`).join(', ');
  const more = names.length > first ? ` and ${names.length - first} more` : '';
  return `${shown}${more} (${names.length} layer${names.length === 1 ? '' : 's'})`;
}

/**
 * One plain sentence per kind of fidelity warning, naming the layers affected (first few and the count), for
 * reports, CLI output and the UI; `vnni` as cpuHasVnni() gives it. Empty when the exported model will run in ONNX Runtime as simulated.
 */
export function summarizeFidelityWarnings(warnings: readonly FidelityWarning[], vnni: boolean | undefined): string[] {
  const nodes = (k: FidelityWarning['kind']) => [...new Set(warnings.filter((w) => w.kind === k).map((w) => w.node))];
  const out: string[] = [];
  const sat = nodes('u8s8-saturation');
  if (sat.length) {
    const cpu = vnni === false ? 'ONNX Runtime on this CPU (no VNNI) runs' : 'ONNX Runtime on x86 CPUs without VNNI (this CPU\'s support could not be read) runs';
    out.push(`${cpu} int8 weights with 8-bit activations through u8s8 kernels that saturate; measured output will be worse than the simulation; use int7/per-channel weights (reduce range) for CPU deployment, or ignore if the target is an NPU. Affected: ${nameLayers(sat)}`);
  }
  const rq = nodes('runtime-weight-quantization');
  if (rq.length) out.push(`ONNX Runtime quantizes the float (or float16/float8) weights of layers whose input is quantized to 4, 8 or 16 bits itself, so these layers do not run with the simulated weights and measured output will differ from the simulation; quantize their weights explicitly, or keep their input in float. Affected: ${nameLayers(rq)}`);
  const i4 = nodes('int4-activations');
  if (i4.length) out.push(`ONNX Runtime's optimized run does not handle 4-bit (int4/uint4) activations: signed int4 inputs are mis-computed (far worse than the simulation) and 4-bit inputs of Conv fuse into a QLinearConv that fails to load; use uint8/int8 activations for these layers. Affected: ${nameLayers(i4)}`);
  const nb = nodes('matmulnbits-int8-activations');
  if (nb.length) out.push(`ONNX Runtime fuses 4-bit blocked MatMul weights into MatMulNBits, which quantizes the float input to int8 (default accuracy level), so outputs differ slightly from the simulation. Affected: ${nameLayers(nb)}`);
  return out;
}

/** fidelityWarnings summarized: the sentences to show users for `plan` on this machine. */
export function fidelityMessages(plan: QuantPlan, opts: FidelityOptions = {}): string[] {
  return summarizeFidelityWarnings(fidelityWarnings(plan, opts), opts.vnni ?? cpuHasVnni(undefined, opts.arch ?? process.arch));
}

/** Fused runs this many dB below the exact Q/DQ arithmetic are reported (faithful kernels agree within ~0.1 dB). */
export const FUSED_LOSS_WARN_DB = 3;

const db = (v: number) => (v === Infinity ? 'inf' : v.toFixed(2));

/**
 * A sentence when ONNX Runtime's optimized run of a QDQ model (`fusedDb`, SQNR against float) is FUSED_LOSS_WARN_DB
 * or more below the same model with graph optimizations disabled (`exactDb`, the simulated arithmetic); else undefined.
 */
export function fusedLossWarning(what: string, fusedDb: number, exactDb: number | undefined): string | undefined {
  if (exactDb === undefined || Number.isNaN(fusedDb) || !(exactDb - fusedDb >= FUSED_LOSS_WARN_DB)) return undefined;
  return `${what}: ONNX Runtime's optimized run (fused integer kernels, what a CPU deployment runs) measures ${db(fusedDb)} dB SQNR against ${db(exactDb)} dB for the exact Q/DQ arithmetic (graph optimizations disabled, as simulated)`;
}
