// `npm run bench:qat`: ms per QAT training step (W4A8 fake quant) vs one FP32 forward pass in ONNX Runtime, MNIST CNN and MLP, batch 64.
import { DataType, encodeModelProto, ModelProto } from '../src/core/onnx/proto';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { mnistCnn, mnistMlp } from '../src/core/train/examples';
import { logitsTensor } from '../src/core/train/qat';
import { Graph } from '../src/core/onnx/graph';
import { probeModel } from '../src/core/train/shape-probe';
import { buildTrainStep } from '../src/core/train/train-step';
import { initActivationScale, planFromRecipe, trainableTensors, constFloat } from '../src/core/train/quant-plan';
import { initWeightScales } from '../src/core/train/weight-init';
import { OPT_INPUTS } from '../src/core/train/optimizer';
import { loopTrainStep } from '../src/core/train/loop';
import { Rng } from '../src/core/train/random';
import { sizeOf, Tensor } from '../src/core/onnx/tensor-data';

const B = 64;
const K = Number(process.env.QL_STEPS_PER_RUN ?? 8);
const threads = Number(process.env.QL_THREADS ?? 1);

async function once(fn: () => Promise<unknown>, reps = 1): Promise<number> {
  const t = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) await fn();
  return Number(process.hrtime.bigint() - t) / 1e6 / reps;
}

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

/** Times the candidates round-robin (so machine load hits all alike) and returns each one's median. */
async function interleaved(fns: { fn: () => Promise<unknown>; reps: number; per: number }[], rounds: number): Promise<number[]> {
  for (const f of fns) await once(f.fn, 2);
  const times = fns.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) for (let k = 0; k < fns.length; k++) times[k].push((await once(fns[k].fn, fns[k].reps)) / fns[k].per);
  return times.map(median);
}

async function bench(name: string, model: ModelProto, reps: number, learn: boolean) {
  const backend = ortBackend();
  const graph = new Graph(model);
  const rng = new Rng(1);
  const x: Tensor = { type: DataType.FLOAT, dims: [B, 1, 28, 28], data: Float32Array.from({ length: B * 784 }, () => rng.next()) };
  const fwd = await backend.createSession(encodeModelProto(model), { threads });
  const probe = await probeModel(backend, model, { input: x });
  const { specs } = planFromRecipe(graph, { defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: {} }, learn);
  for (const s of specs) {
    if (s.role === 'weight') initWeightScales(s, constFloat(graph, s.tensor), probe.shapes.get(s.tensor)!, 'minmax');
    else initActivationScale(s, 0, 4);
  }
  const params = trainableTensors(graph);
  const step = buildTrainStep({ model, probe, params, fakeQuant: specs, loss: { crossEntropy: 1, distill: 0, distillKind: 'kl', temperature: 1 }, logits: logitsTensor(graph), optimizer: { kind: 'adam' } });
  const s = await backend.createSession(encodeModelProto(step.model), { threads, config: step.sessionConfig });
  const feeds: Record<string, Tensor> = { input: x, [step.labels!]: { type: DataType.FLOAT, dims: [B, 10], data: Float32Array.from({ length: B * 10 }, (_, i) => (i % 10 === 3 ? 1 : 0)) } };
  const sc = (v: number): Tensor => ({ type: DataType.FLOAT, dims: [], data: Float32Array.of(v) });
  feeds[OPT_INPUTS.lr] = sc(1e-4); feeds[OPT_INPUTS.bc1] = sc(0.1); feeds[OPT_INPUTS.bc2] = sc(0.001);
  for (const p of params) feeds[p] = { type: DataType.FLOAT, dims: probe.shapes.get(p)!, data: constFloat(graph, p) };
  for (const st of step.state) feeds[st] = { type: DataType.FLOAT, dims: step.shapes.get(st)!, data: new Float32Array(sizeOf(step.shapes.get(st)!)) };
  specs.forEach((sp, k) => { feeds[step.scales[k]] = { type: DataType.FLOAT, dims: step.shapes.get(step.scales[k])!, data: sp.scale }; });
  // K steps per run inside an ONNX Loop.
  const loop = loopTrainStep(step);
  const ls = await backend.createSession(encodeModelProto(loop.model), { threads, config: step.sessionConfig });
  const lf: Record<string, Tensor> = { [loop.trips]: { type: DataType.INT64, dims: [], data: BigInt64Array.of(BigInt(K)) } };
  for (const p of loop.perStep) {
    const t = feeds[p.name];
    const data = new Float32Array(K * t.data.length);
    for (let k = 0; k < K; k++) data.set(t.data as Float32Array, k * t.data.length);
    lf[p.seq] = { type: DataType.FLOAT, dims: [K, ...t.dims], data };
  }
  for (const c of loop.carried) lf[c.init] = feeds[c.name];
  for (const [k, v] of Object.entries(feeds)) if (!(k in lf) && !loop.perStep.some((p) => p.name === k) && !loop.carried.some((c) => c.name === k)) lf[k] = v;
  const [fwdMs, stepMs, loopMs] = await interleaved([
    { fn: () => fwd.run({ input: x }), reps: 5, per: 1 },
    { fn: () => s.run(feeds), reps: 1, per: 1 },
    { fn: () => ls.run(lf), reps: 1, per: K },
  ], reps);
  await Promise.all([fwd.release(), s.release(), ls.release()]);
  const best = Math.min(stepMs, loopMs);
  return { name, fwdMs, stepMs, loopMs, ratio: best / fwdMs, samplesPerSec: (B * 1000) / best };
}

async function main() {
  const rows = [
    await bench('CNN LSQ', mnistCnn(1), 15, true), await bench('CNN fixed', mnistCnn(1), 15, false),
    await bench('MLP LSQ', mnistMlp(1), 40, true), await bench('MLP fixed', mnistMlp(1), 40, false),
  ];
  console.log(`(medians of interleaved rounds; load average ${require('os').loadavg()[0].toFixed(1)} on ${require('os').cpus().length} cores)`);
  console.log(`MNIST, QAT training step (W4A8 per-channel fake quant, Adam; scales learned by LSQ or fixed after calibration) vs FP32 forward, batch ${B}, ${threads} thread(s), onnxruntime-node`);
  console.log(`model       fp32 fwd ms   step ms (1/run)   step ms (${K}/run, Loop)   ratio (best/fwd)   samples/s`);
  for (const r of rows) console.log(`${r.name.padEnd(11)} ${r.fwdMs.toFixed(3).padStart(11)} ${r.stepMs.toFixed(3).padStart(17)} ${r.loopMs.toFixed(3).padStart(24)} ${r.ratio.toFixed(2).padStart(18)} ${r.samplesPerSec.toFixed(0).padStart(11)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
